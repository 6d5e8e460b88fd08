"""A NUL byte (or another control character) is refused at the edge with a 400 (issue 18 #3): in a path, a query
string, a form field or a FHIR client's JSON, before any view runs. Each endpoint family the security test found
answering 500 is asked once here; nothing is saved, no access event is written, and the FHIR API answers with an
OperationOutcome. What the audit stores as text is escaped (audit.services._printable)."""

import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent
from audit.services import access_record
from encounters import notes as services
from encounters.models import AmendmentRequest, Note

pytestmark = pytest.mark.django_db

NUL = "\x00"


@pytest.fixture
def record(clinician, patient):
    """An encounter with a draft note, and a signed note with an amendment request."""
    enc = services.encounter_start(actor=clinician, patient_id=patient.pk, reason="Check-up")
    draft = services.note_create(actor=clinician, encounter_id=enc.pk, blank=True)
    signed = services.note_create(actor=clinician, encounter_id=enc.pk, blank=True)
    n = services.note_save_draft(
        actor=clinician, note_id=signed.pk, version=1, data={"subjective": "Two days"}
    )
    services.note_sign(actor=clinician, note_id=signed.pk, version=n.version)
    amendment = services.amendment_request_record(
        actor=clinician, note_id=signed.pk, requested_text="It was 5 days"
    )
    return {"draft": draft, "signed": signed, "amendment": amendment}


def _state(record):
    """What a refused request must leave as it was: the notes, their addenda, the amendment, the audit trail."""
    draft = Note.objects.get(pk=record["draft"].pk)
    signed = Note.objects.get(pk=record["signed"].pk)
    amendment = AmendmentRequest.objects.get(pk=record["amendment"].pk)
    return (
        draft.version,
        draft.subjective,
        signed.addenda.count(),
        AmendmentRequest.objects.count(),
        amendment.status,
        AccessEvent.objects.count(),
    )


# (family, method, url name or path, args from the record, data). Every value carries a NUL.
FORMS = [
    ("note autosave", "encounters:note_save", "draft", {"{p}subjective": f"Cough{NUL}", "{p}version": "1"}),
    ("addendum", "encounters:addendum_add", "signed", {"text": f"Later{NUL}"}),
    ("amendment", "encounters:amendment_add", "signed", {"requested_text": f"Fix{NUL}"}),
    (
        "amendment decision",
        "encounters:amendment_decide",
        "amendment",
        {"decision": "deny", "decision_reason": f"No{NUL}"},
    ),
    ("needs-attention resolve", "prescriptions:attention_resolve", None, {"note": f"Called{NUL}"}),
]
PICKERS = [
    ("ICD-10 picker", "encounters:icd10_search", {"q": f"asth{NUL}"}),
    ("allergen picker", "encounters:allergen_search", {"q": f"pen{NUL}"}),
    ("pharmacy picker", "prescriptions:pharmacy_directory", {"q": f"main{NUL}"}),
    ("medication picker", "prescriptions:medication_search", {"q": f"lisin{NUL}"}),
]


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize(("family", "name", "target", "data"), FORMS, ids=[f[0] for f in FORMS])
def test_a_nul_in_a_form_field_is_refused_and_nothing_is_saved(
    login, clinician, record, family, name, target, data, encoding
):
    client = login(clinician)
    pk = record[target].pk if target else uuid.uuid4()
    data = {k.format(p=str(pk)[:8] + "-"): v for k, v in data.items()}
    before = _state(record)
    headers = {"HX-Request": "true"} if family == "note autosave" else {}
    if encoding == "urlencoded":
        resp = client.post(
            reverse(name, args=[pk]), urlencode(data), "application/x-www-form-urlencoded", headers=headers
        )
    else:
        resp = client.post(reverse(name, args=[pk]), data, headers=headers)
    assert resp.status_code == 400, family
    assert b"control character" in resp.content
    assert _state(record) == before


@pytest.mark.parametrize(("family", "name", "params"), PICKERS, ids=[p[0] for p in PICKERS])
def test_a_nul_in_a_picker_query_is_refused(login, clinician, record, family, name, params):
    before = _state(record)
    resp = login(clinician).get(reverse(name), params)
    assert resp.status_code == 400, family
    assert _state(record) == before


def test_tab_and_newlines_in_form_text_are_kept(login, clinician, record):
    p = str(record["draft"].pk)[:8] + "-"
    resp = login(clinician).post(
        reverse("encounters:note_save", args=[record["draft"].pk]),
        {f"{p}subjective": "Cough\r\n\tthree days", f"{p}version": "1"},
        headers={"HX-Request": "true"},
    )
    assert resp.status_code == 200
    assert Note.objects.get(pk=record["draft"].pk).subjective.endswith("\tthree days")


@pytest.fixture
def token(clinician):
    from oauth2_provider.models import get_access_token_model, get_application_model

    Application = get_application_model()
    app = Application.objects.create(
        name="nul test app",
        user=clinician,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://app.example.test/callback",
    )
    raw = secrets.token_urlsafe(30)
    get_access_token_model().objects.create(
        user=clinician,
        application=app,
        token=raw,
        scope="openid user/*.read",
        expires=timezone.now() + timedelta(hours=1),
    )
    return {"Authorization": f"Bearer {raw}"}


def _outcome(resp) -> dict:
    assert resp["Content-Type"].startswith("application/fhir+json")
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "invalid"
    return body


FHIR = [
    ("search parameter", "/fhir/Patient?name=Garc%00ia"),
    ("search parameter name", "/fhir/Observation?pat%00ient=x"),
    ("read path", "/fhir/Patient/%00"),
    ("read path of another type", "/fhir/Encounter/abc%00def"),
    ("everything path", "/fhir/Patient/%00/$everything"),
    ("control character in a read path", "/fhir/Patient/%1b%5b31m"),
]


@pytest.mark.parametrize(("family", "url"), FHIR, ids=[f[0] for f in FHIR])
def test_the_fhir_api_refuses_control_characters_with_an_operation_outcome(client, token, family, url):
    before = AccessEvent.objects.count()
    resp = client.get(url, headers=token)
    assert resp.status_code == 400, family
    _outcome(resp)
    # Refused at the edge: no event half-written (and none lost: the request never reached the door).
    assert AccessEvent.objects.count() == before


def test_a_fhir_json_body_with_an_escaped_nul_is_refused(client, token):
    resp = client.post(
        "/fhir/Patient",
        '{"resourceType": "Patient", "name": [{"family": "A\\u0000"}]}',
        "application/fhir+json",
        headers=token,
    )
    assert resp.status_code == 400
    _outcome(resp)


def test_what_the_audit_stores_is_escaped(clinician, patient, rf):
    request = rf.get("/patients/")
    request.path = "/patients/\x00\x1b[31m"  # (the edge refuses this; the audit must not depend on it)
    ev = access_record(
        actor=clinician,
        action="list",
        category="patient list",
        request=request,
        detail={"query": "Garc\x00ia\n"},
    )
    stored = AccessEvent.objects.get(pk=ev.pk)
    assert stored.detail["path"] == "/patients/\\x00\\x1b[31m"
    assert stored.detail["query"] == "Garc\\x00ia\\x0a"
