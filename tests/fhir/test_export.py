"""Patient/$everything and the single-patient EHI export (ONC 170.315(b)(10)): content, R4 validity, access,
audit, the public format page, constant queries."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from audit.models import AccessEvent
from tests.fhir.r4 import r4_validate


def test_everything_returns_all_types_the_token_may_read(api, make_token, clinician, patient, chart):
    body = api(make_token(clinician, "user/*.read"), f"Patient/{patient.pk}/$everything").json()
    r4_validate(body)
    kinds = [e["resource"]["resourceType"] for e in body["entry"]]
    assert kinds[0] == "Patient"
    for t in (
        "Encounter",
        "Condition",
        "AllergyIntolerance",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "Appointment",
    ):
        assert t in kinds, t
    assert body["total"] == len(body["entry"])
    ev = AccessEvent.objects.latest("id")
    assert (ev.action, ev.category, ev.channel, ev.patient_id) == (
        "export",
        "full record export",
        "api",
        patient.pk,
    )


def test_everything_respects_per_type_scopes_and_reach(
    api, make_token, clinician, front_desk, patient, other_patient, chart
):
    only_patient = api(make_token(clinician, "user/Patient.read"), f"Patient/{patient.pk}/$everything").json()
    assert [e["resource"]["resourceType"] for e in only_patient["entry"]] == ["Patient"]
    desk = api(make_token(front_desk, "user/*.read"), f"Patient/{patient.pk}/$everything").json()
    assert {e["resource"]["resourceType"] for e in desk["entry"]} == {"Patient", "Appointment"}
    assert (
        api(make_token(clinician, "user/*.read"), f"Patient/{other_patient.pk}/$everything").status_code
        == 404
    )


def _unzip(resp) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_ehi_export_zip(login, clinician, patient, chart):
    from encounters.models import Addendum, Note

    note = Note.objects.create(
        encounter=chart.enc1,
        patient=patient,
        author=clinician,
        subjective="Cough 3 days",
        plan="Fluids",
        status="signed",
        signed_by=clinician,
        signed_at=chart.enc1.start,
        content_hash="a" * 64,
    )
    Addendum.objects.create(
        note=note, patient=patient, author=clinician, text="Culture negative", content_hash="b" * 64
    )
    Note.objects.create(
        encounter=chart.enc2, patient=patient, author=clinician, subjective="draft, not exported"
    )

    resp = login(clinician).get(reverse("export:ehi", args=[patient.pk]))
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/zip"
    assert f"ehi-{patient.mrn}-" in resp["Content-Disposition"]
    files = _unzip(resp)
    assert {
        "summary.html",
        "manifest.json",
        "README.txt",
        "Patient.ndjson",
        "Encounter.ndjson",
        "DocumentReference.ndjson",
    } <= set(files)
    manifest = json.loads(files["manifest.json"])
    for name, count in manifest["files"].items():
        lines = files[name].decode().splitlines()
        assert len(lines) == count
        for line in lines:
            r4_validate(json.loads(line))
    docs = [json.loads(line) for line in files["DocumentReference.ndjson"].decode().splitlines()]
    assert len(docs) == 1  # the draft stays out
    import base64

    text = base64.b64decode(docs[0]["content"][0]["attachment"]["data"]).decode()
    assert "Cough 3 days" in text and "Culture negative" in text
    pat = json.loads(files["Patient.ndjson"])
    assert {"http://hl7.org/fhir/sid/us-ssn"} <= {i.get("system") for i in pat["identifier"]}
    summary = files["summary.html"].decode()
    assert patient.family_name.upper() in summary and "Culture negative" in summary
    ev = AccessEvent.objects.filter(action="export").latest("id")
    assert ev.patient_id == patient.pk and ev.channel == "ui"


@pytest.mark.parametrize(
    ("persona", "status"),
    # Outsiders get 404; the front desk sees the patient but not the clinical record: a plain 403 (issue 17 item 5).
    [("colleague", 404), ("front_desk", 403), ("privacy", 404), ("admin_user", 404)],
)
def test_ehi_export_is_refused_without_clinical_access(request, login, patient, persona, status):
    resp = login(request.getfixturevalue(persona)).get(reverse("export:ehi", args=[patient.pk]))
    assert resp.status_code == status
    assert AccessEvent.objects.filter(patient_id=patient.pk, outcome="denied").exists()


def test_format_page_is_public(client):
    resp = client.get(reverse("export:ehi_format"))
    assert resp.status_code == 200
    assert "NDJSON" in resp.content.decode() or "ndjson" in resp.content.decode()


def test_export_queries_do_not_grow_with_history(login, clinician, patient, chart):
    from datetime import timedelta

    from encounters.models import Encounter

    client = login(clinician)
    url = reverse("export:ehi", args=[patient.pk])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    Encounter.objects.bulk_create(
        [
            Encounter(patient=patient, provider=clinician, start=chart.enc1.start - timedelta(days=i))
            for i in range(1, 200)
        ]
    )
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
