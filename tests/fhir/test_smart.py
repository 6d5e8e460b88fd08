"""SMART App Launch through django-oauth-toolkit: discovery, the standalone patient launch (the user picks the
patient on the consent page), the token response's patient, refresh keeping the context, and scope validation."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth2_provider.models import get_application_model

from audit.models import AccessEvent

REDIRECT = "https://app.example.test/callback"
AUD = "http://testserver/fhir"  # SMART: the FHIR base URL the app means to use


@pytest.fixture
def app(db, clinician):
    Application = get_application_model()
    raw_secret = "s3cret-" + secrets.token_hex(8)
    app = Application.objects.create(
        name="Growth charts",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        client_secret=raw_secret,
        user=clinician,
    )
    app.raw_secret = raw_secret
    return app


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(client, app, scope: str, *, mrn: str | None, allow: bool = True):
    """Walk the consent page like a browser: GET the page, POST the form back. Returns (response, verifier)."""
    verifier, challenge = _pkce()
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "aud": AUD,
    }
    page = client.get("/o/authorize/", params)
    assert page.status_code == 200, page.content[:500]
    form = page.context["form"]
    data = {
        name: (form.initial.get(name) or "") for name in form.fields if name not in ("allow", "patient_mrn")
    }
    if allow:
        data["allow"] = "on"
    if mrn is not None:
        data["patient_mrn"] = mrn
    return client.post("/o/authorize/", data), verifier


def token_for(client, app, code: str, verifier: str):
    return client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": app.client_id,
            "client_secret": app.raw_secret,
            "code_verifier": verifier,
        },
    )


def test_discovery_documents(client):
    cfg = client.get("/.well-known/smart-configuration").json()
    assert cfg["authorization_endpoint"].endswith("/o/authorize/")
    assert cfg["token_endpoint"].endswith("/o/token/")
    assert "context-standalone-patient" in cfg["capabilities"]
    assert "patient/*.read" in cfg["scopes_supported"] and "launch/patient" in cfg["scopes_supported"]
    assert client.get("/fhir/.well-known/smart-configuration").json() == cfg


def test_standalone_patient_launch_end_to_end(client, login, app, clinician, patient, other_patient):
    browser = login(clinician)
    page = browser.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT,
            "scope": "launch/patient patient/*.read",
            "state": "s",
            "code_challenge": _pkce()[1],
            "code_challenge_method": "S256",
            "aud": AUD,
        },
    )
    assert b"Patient MRN" in page.content  # the picker is on the consent page

    # Not choosing a patient, or choosing one the user may not see, keeps the user on the page.
    resp, _ = authorize(browser, app, "launch/patient patient/*.read", mrn="")
    assert resp.status_code == 200 and "Choose the patient" in resp.content.decode()
    resp, _ = authorize(browser, app, "launch/patient patient/*.read", mrn=other_patient.mrn)
    assert resp.status_code == 200 and "No patient you may see" in resp.content.decode()
    assert AccessEvent.objects.filter(outcome="denied", detail__needed="patient for app launch").exists()

    resp, verifier = authorize(browser, app, "launch/patient patient/*.read", mrn=patient.mrn)
    assert resp.status_code == 302 and resp.url.startswith(REDIRECT)
    code = parse_qs(urlsplit(resp.url).query)["code"][0]
    tok = token_for(client, app, code, verifier)
    assert tok.status_code == 200, tok.content
    body = tok.json()
    assert body["patient"] == str(patient.pk)
    assert "patient/*.read" in body["scope"]

    headers = {"Authorization": f"Bearer {body['access_token']}"}
    got = client.get("/fhir/Patient", headers=headers).json()
    assert [e["resource"]["id"] for e in got["entry"]] == [str(patient.pk)]
    assert client.get(f"/fhir/Patient/{other_patient.pk}", headers=headers).status_code == 404

    # A refreshed token keeps the launch patient.
    again = client.post(
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": app.client_id,
            "client_secret": app.raw_secret,
        },
    )
    assert again.status_code == 200, again.content
    assert again.json()["patient"] == str(patient.pk)
    new_headers = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert client.get(f"/fhir/Patient/{patient.pk}", headers=new_headers).status_code == 200
    assert client.get(f"/fhir/Patient/{other_patient.pk}", headers=new_headers).status_code == 404


def test_user_scope_needs_no_patient(client, login, app, clinician, patient):
    resp, verifier = authorize(login(clinician), app, "user/*.read", mrn=None)
    assert resp.status_code == 302
    code = parse_qs(urlsplit(resp.url).query)["code"][0]
    body = token_for(client, app, code, verifier).json()
    assert "patient" not in body
    assert (
        client.get(
            f"/fhir/Patient/{patient.pk}", headers={"Authorization": f"Bearer {body['access_token']}"}
        ).status_code
        == 200
    )


def test_unknown_and_system_scopes_are_refused_for_a_user_app(login, app, clinician):
    browser = login(clinician)
    for scope in ("patient/*.delete", "system/*.read", "admin"):
        page = browser.get(
            "/o/authorize/",
            {
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": REDIRECT,
                "scope": scope,
                "state": "s",
                "code_challenge": _pkce()[1],
                "code_challenge_method": "S256",
                "aud": AUD,
            },
        )
        # DOT answers an invalid scope by redirecting back to the app with error=invalid_scope.
        assert page.status_code == 302 and "error=invalid_scope" in page.url, scope


def test_deny_sends_the_user_back_without_a_code(login, app, clinician, patient):
    resp, _ = authorize(login(clinician), app, "launch/patient patient/*.read", mrn=patient.mrn, allow=False)
    assert resp.status_code == 302 and "error=access_denied" in resp.url
