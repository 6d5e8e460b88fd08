"""Issue 19, SMART App Launch 2: `aud` checked, `iss` as discovered, v2 scopes beside v1, OpenID Connect (ID token
verified against the JWKS, userinfo), the EHR launch from the chart, backend services with private_key_jwt, CORS only
for registered origins, and discovery documents that say what the server does."""

import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from jwcrypto import jwk, jwt
from oauth2_provider.models import get_application_model, get_grant_model

from accounts.oauth_clients import oauth_client_create, service_account_create
from fhirapi.models import SmartClient
from tests.fhir.test_smart import AUD, REDIRECT, _pkce, authorize, token_for

pytestmark = pytest.mark.django_db
Application = get_application_model()
TOKEN_URL = "http://testserver/o/token/"
LAUNCH_URL = "https://app.example.test/launch"
ORIGIN = "https://app.example.test"


@pytest.fixture
def app(db, clinician):
    raw_secret = "s3cret-" + uuid.uuid4().hex
    app = Application.objects.create(
        name="Growth charts",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        client_secret=raw_secret,
        allowed_origins=ORIGIN,
    )
    SmartClient.objects.create(application=app, launch_uri=LAUNCH_URL)
    app.raw_secret = raw_secret
    return app


def _code(resp) -> str:
    assert resp.status_code == 302 and resp.url.startswith(REDIRECT), getattr(resp, "content", b"")[:400]
    return parse_qs(urlsplit(resp.url).query)["code"][0]


def _params(app, scope, **extra):
    return {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s",
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
        **extra,
    }


# ------------------------------------------------------------------------------------------------ aud and iss
@pytest.mark.parametrize("aud", ["https://evil.example/fhir", "", "http://testserver/"])
def test_a_wrong_or_missing_aud_gets_no_code(login, app, clinician, aud):
    browser = login(clinician)
    page = browser.get("/o/authorize/", _params(app, "user/*.read", aud=aud))
    assert page.status_code == 400
    assert "aud" in page.content.decode()
    # Posting the consent form with the wrong aud is refused the same way.
    good = browser.get("/o/authorize/", _params(app, "user/*.read", aud=AUD))
    data = {k: (v or "") for k, v in good.context["form"].initial.items() if v is not None}
    data.update(aud=aud, allow="on")
    assert browser.post("/o/authorize/", data).status_code == 400
    assert not get_grant_model().objects.filter(application=app).exists()


def test_iss_after_authorization_is_the_discovery_issuer(client, login, app, clinician):
    issuer = client.get("/.well-known/smart-configuration").json()["issuer"]
    resp, _ = authorize(login(clinician), app, "user/*.read", mrn=None)
    _code(resp)
    assert parse_qs(urlsplit(resp.url).query)["iss"] == [issuer]
    assert client.get("/o/.well-known/openid-configuration").json()["issuer"] == issuer


# ------------------------------------------------------------------------------------------------ v2 scopes, OIDC
def test_v2_scopes_and_openid_give_an_id_token_verified_against_the_jwks(
    client, login, app, clinician, patient
):
    scope = "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs"
    resp, verifier = authorize(login(clinician), app, scope, mrn=patient.mrn)
    tok = token_for(client, app, _code(resp), verifier)
    assert tok.status_code == 200, tok.content
    body = tok.json()
    assert body["scope"].split() == scope.split()  # granted in the form asked
    assert body["patient"] == str(patient.pk)
    assert body["refresh_token"] and body["expires_in"] <= 3600

    jwks = client.get("/o/.well-known/jwks.json")
    assert jwks.status_code == 200
    keyset = jwk.JWKSet.from_json(jwks.content)
    id_token = jwt.JWT(jwt=body["id_token"], key=keyset, algs=["RS256"])
    claims = json.loads(id_token.claims)
    assert claims["aud"] == app.client_id
    assert claims["iss"] == client.get("/.well-known/smart-configuration").json()["issuer"]
    assert claims["sub"] == str(clinician.pk)
    assert claims["fhirUser"] == f"http://testserver/fhir/Practitioner/{clinician.practitioner.pk}"
    # The fhirUser resource is readable with the token's user.
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"/fhir/Patient/{patient.pk}", headers=headers).status_code == 200

    info = client.get("/o/userinfo/", headers=headers)
    assert info.status_code == 200, info.content
    assert info.json()["sub"] == str(clinician.pk)
    assert client.get("/o/.well-known/openid-configuration").status_code == 200


def test_a_v2_type_scope_reads_only_that_type(client, login, app, clinician, patient):
    resp, verifier = authorize(login(clinician), app, "user/Observation.rs", mrn=None)
    body = token_for(client, app, _code(resp), verifier).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/fhir/Observation", {"patient": str(patient.pk)}, headers=headers).status_code == 200
    assert client.get(f"/fhir/Patient/{patient.pk}", headers=headers).status_code == 403


def test_user_cruds_is_accepted_and_reads(client, login, app, clinician, patient):
    resp, verifier = authorize(login(clinician), app, "user/*.cruds", mrn=None)
    body = token_for(client, app, _code(resp), verifier).json()
    assert body["scope"] == "user/*.cruds"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"/fhir/Patient/{patient.pk}", headers=headers).status_code == 200


@pytest.mark.parametrize("scope", ["user/*.sr", "user/*.x", "patient/Nothing.rs", "system/*.rs"])
def test_malformed_v2_scopes_are_refused(login, app, clinician, scope):
    page = login(clinician).get("/o/authorize/", _params(app, scope, aud=AUD))
    assert page.status_code == 302 and "error=invalid_scope" in page.url


# ------------------------------------------------------------------------------------------------ EHR launch
def _launch(browser, app, patient) -> dict:
    page = browser.get(f"/smart/launch/{patient.pk}/")
    assert page.status_code == 200 and app.name in page.content.decode()
    go = browser.post(f"/smart/launch/{patient.pk}/", {"app": app.pk})
    assert go.status_code == 302 and go.url.startswith(LAUNCH_URL + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(go.url).query).items()}


def test_ehr_launch_from_the_chart(client, login, app, clinician, patient):
    browser = login(clinician)
    assert f"/smart/launch/{patient.pk}/" in browser.get(f"/patients/{patient.pk}/").content.decode()
    q = _launch(browser, app, patient)
    assert q["iss"] == AUD and q["launch"]

    params = _params(app, "launch openid fhirUser patient/*.rs", aud=q["iss"], launch=q["launch"])
    page = browser.get("/o/authorize/", params)
    assert page.status_code == 200
    assert b"Patient MRN" not in page.content  # the patient comes from the launch, no picker
    data = {k: (v or "") for k, v in page.context["form"].initial.items() if v is not None}
    data["allow"] = "on"
    resp = browser.post("/o/authorize/", data)
    code = _code(resp)
    verifier_less = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": app.client_id,
            "client_secret": app.raw_secret,
            "code_verifier": "x" * 50,
        },
    )
    assert verifier_less.status_code == 400  # PKCE still holds
    # The launch value is used once.
    again = browser.get("/o/authorize/", params)
    assert again.status_code == 400 and "launch" in again.content.decode()


def test_ehr_launch_token_carries_the_patient(client, login, app, clinician, patient, other_patient):
    browser = login(clinician)
    q = _launch(browser, app, patient)
    verifier, challenge = _pkce()
    params = _params(app, "launch patient/*.rs", aud=AUD, launch=q["launch"])
    params["code_challenge"] = challenge
    page = browser.get("/o/authorize/", params)
    data = {k: (v or "") for k, v in page.context["form"].initial.items() if v is not None}
    data["allow"] = "on"
    body = token_for(client, app, _code(browser.post("/o/authorize/", data)), verifier).json()
    assert body["patient"] == str(patient.pk)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"/fhir/Patient/{patient.pk}", headers=headers).status_code == 200
    assert client.get(f"/fhir/Patient/{other_patient.pk}", headers=headers).status_code == 404


def test_a_launch_value_of_another_user_is_refused(login, app, clinician, nurse, patient):
    q = _launch(login(clinician), app, patient)
    page = login(nurse).get("/o/authorize/", _params(app, "launch patient/*.rs", aud=AUD, launch=q["launch"]))
    assert page.status_code == 400


def test_an_outsider_cannot_open_the_launch_page(login, app, clinician, other_patient):
    assert login(clinician).get(f"/smart/launch/{other_patient.pk}/").status_code == 404


# ------------------------------------------------------------------------------------------------ backend services
@pytest.fixture
def backend(db):
    account = service_account_create(username="svc-analytics", purpose="Population analytics")
    app, _secret = oauth_client_create(name="Analytics", service_account=account)
    key = jwk.JWK.generate(kty="RSA", size=2048, kid="k1", alg="RS384")
    SmartClient.objects.create(application=app, jwks={"keys": [json.loads(key.export_public())]})
    app.key = key
    return app


def _assertion(app, key, **over):
    now = int(time.time())
    claims = {
        "iss": app.client_id,
        "sub": app.client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "iat": now,
        "jti": uuid.uuid4().hex,
        **over,
    }
    token = jwt.JWT(header={"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


def _backend_token(client, assertion, scope="system/*.rs"):
    return client.post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def test_backend_service_with_a_signed_jwt(client, backend):
    assertion = _assertion(backend, backend.key)
    resp = _backend_token(client, assertion)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["scope"] == "system/*.rs" and "refresh_token" not in body
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/fhir/Patient", headers=headers).status_code == 200
    # The same assertion again is a replay.
    assert _backend_token(client, assertion).status_code in (400, 401)


@pytest.mark.parametrize(
    "case",
    ["other-key", "expired", "too-long", "wrong-aud", "wrong-sub", "no-jti", "garbage", "unregistered"],
)
def test_bad_client_assertions_are_refused(client, backend, case):
    now = int(time.time())
    key = backend.key
    over = {}
    if case == "other-key":
        key = jwk.JWK.generate(kty="RSA", size=2048, kid="k1", alg="RS384")
    elif case == "expired":
        over = {"exp": now - 10}
    elif case == "too-long":
        over = {"exp": now + 3600}
    elif case == "wrong-aud":
        over = {"aud": "https://evil.example/token"}
    elif case == "wrong-sub":
        over = {"sub": "someone-else"}
    elif case == "no-jti":
        over = {"jti": ""}
    assertion = "not.a.jwt" if case == "garbage" else _assertion(backend, key, **over)
    if case == "unregistered":
        SmartClient.objects.filter(application=backend).update(jwks={})
    resp = _backend_token(client, assertion)
    assert resp.status_code in (400, 401), resp.content
    assert "access_token" not in resp.json()


def test_a_persons_app_cannot_use_client_credentials_with_a_jwt(client, clinician):
    app, _ = oauth_client_create(name="Sneaky", service_account=None, redirect_uris=REDIRECT)
    key = jwk.JWK.generate(kty="RSA", size=2048, kid="k1", alg="RS384")
    SmartClient.objects.create(application=app, jwks={"keys": [json.loads(key.export_public())]})
    resp = _backend_token(client, _assertion(app, key))
    assert resp.status_code in (400, 401) and "access_token" not in resp.json()


# ------------------------------------------------------------------------------------------------ CORS
@pytest.mark.parametrize("path", ["/fhir/Patient", "/o/token/"])
def test_cors_only_for_a_registered_origin(client, app, path):
    pre = {"HTTP_ORIGIN": ORIGIN, "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}
    ok = client.options(path, **pre)
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in ok["Access-Control-Allow-Headers"]
    bad = client.options(path, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in bad
    # The actual response too.
    assert client.get("/fhir/metadata", HTTP_ORIGIN=ORIGIN)["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Origin" not in client.get(
        "/fhir/metadata", HTTP_ORIGIN="https://evil.example"
    )


# ------------------------------------------------------------------------------------------------ discovery
def test_discovery_says_what_the_server_does(client):
    cfg = client.get("/.well-known/smart-configuration").json()
    for cap in ("launch-ehr", "context-ehr-patient", "permission-v2", "permission-v1", "sso-openid-connect"):
        assert cap in cfg["capabilities"]
    assert "private_key_jwt" in cfg["token_endpoint_auth_methods_supported"]
    assert "patient/Observation.rs" in cfg["scopes_supported"] and "launch" in cfg["scopes_supported"]
    assert client.get(cfg["jwks_uri"]).status_code == 200
    meta = client.get("/fhir/metadata").json()
    security = meta["rest"][0]["security"]
    assert security["cors"] is True
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["token"] == cfg["token_endpoint"] and uris["authorize"] == cfg["authorization_endpoint"]
