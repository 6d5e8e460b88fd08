"""FHIR Bulk Data `$export` (fhirapi/bulk.py): kick-off, progress, manifest, NDJSON files, access, cancel, expiry.

The export runs on the real Celery worker against the real broker and database.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AccessEvent
from encounters.models import Appointment
from fhirapi import bulk
from fhirapi.models import ExportJob
from tests.conftest import wait_until
from tests.fhir.r4 import r4_validate

pytestmark = pytest.mark.django_db(transaction=True)
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def system_token(make_token, clinician):
    """A backend service whose account is on `patient`'s care team (not on `other_patient`'s)."""
    return make_token(None, "system/*.read", app_user=clinician)


def _headers(token, **extra):
    return {"Authorization": f"Bearer {token}", **extra}


def kick_off(client, token, path="$export", **params):
    return client.get(f"/fhir/{path}", params, headers=_headers(token, **ASYNC))


def status_path(resp) -> str:
    return resp["Content-Location"].split("testserver", 1)[1]


def wait_done(client, token, resp) -> dict:
    path = status_path(resp)

    def done():
        r = client.get(path, headers=_headers(token))
        assert r.status_code in (200, 202), r.content
        return r if r.status_code == 200 else None

    return wait_until(done, timeout=60).json()


def download(client, token, url) -> list[dict]:
    r = client.get(url.split("testserver", 1)[1], headers=_headers(token))
    assert r.status_code == 200
    assert r["Content-Type"] == "application/fhir+ndjson"
    return [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]


@pytest.mark.worker
def test_system_export_manifest_and_files(
    celery_worker_proc, client, system_token, api, chart, patient, other_patient
):
    resp = kick_off(client, system_token)
    assert resp.status_code == 202
    assert "/fhir/$export-status/" in resp["Content-Location"]
    manifest = wait_done(client, system_token, resp)

    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["transactionTime"]
    assert manifest["error"] == []
    exported = {}
    for out in manifest["output"]:
        resources = download(client, system_token, out["url"])
        assert len(resources) == out["count"] > 0
        for r in resources:
            assert r["resourceType"] == out["type"]
            r4_validate(r)
        exported[out["type"]] = {r["id"] for r in resources}
    # Complete for the patients the service may see, and nobody else: the same resources as $everything.
    assert exported["Patient"] == {str(patient.pk)}
    everything = api(system_token, f"Patient/{patient.pk}/$everything").json()
    expected = {}
    for e in everything["entry"]:
        expected.setdefault(e["resource"]["resourceType"], set()).add(e["resource"]["id"])
    assert exported == expected
    assert str(chart.other_enc.pk) not in exported["Encounter"]

    # Each download is a disclosure naming the patients.
    downloads = AccessEvent.objects.filter(action="export", channel="api", detail__step="downloaded")
    assert downloads.count() == len(manifest["output"])
    assert all(str(patient.pk) in [str(p) for p in ev.patient_ids] for ev in downloads)


@pytest.mark.worker
def test_type_and_since(celery_worker_proc, client, system_token, chart, patient):
    manifest = wait_done(client, system_token, kick_off(client, system_token, _type="Patient,Condition"))
    assert sorted(o["type"] for o in manifest["output"]) == ["Condition", "Patient"]
    conditions = download(
        client, system_token, next(o["url"] for o in manifest["output"] if o["type"] == "Condition")
    )
    assert {c["id"] for c in conditions} == {str(chart.problem.pk), str(chart.resolved.pk)}

    # _since: only what changed at or after it (the patient and one appointment, touched now; not the other
    # appointment).
    since = timezone.now() + timedelta(seconds=1)
    wait_until(lambda: timezone.now() > since)
    patient.save()
    chart.appt.save()
    old_appt = Appointment.objects.create(
        patient=patient,
        provider=chart.appt.provider,
        appointment_type=chart.appt.appointment_type,
        start=chart.appt.start + timedelta(days=7),
        end=chart.appt.end + timedelta(days=7),
    )
    Appointment.objects.filter(pk=old_appt.pk).update(updated_at=since - timedelta(days=1))
    manifest = wait_done(
        client,
        system_token,
        kick_off(client, system_token, _type="Patient,Appointment", _since=since.isoformat()),
    )
    assert sorted(o["type"] for o in manifest["output"]) == ["Appointment", "Patient"]
    appts = download(
        client, system_token, next(o["url"] for o in manifest["output"] if o["type"] == "Appointment")
    )
    assert [a["id"] for a in appts] == [str(chart.appt.pk)]


@pytest.mark.worker
def test_group_export_is_the_departments_patients(
    celery_worker_proc, client, system_token, chart, patient, department
):
    manifest = wait_done(
        client, system_token, kick_off(client, system_token, f"Group/{department.pk}/$export")
    )
    patients = download(
        client, system_token, next(o["url"] for o in manifest["output"] if o["type"] == "Patient")
    )
    assert [p["id"] for p in patients] == [str(patient.pk)]
    assert (
        client.get("/fhir/Group/999999/$export", headers=_headers(system_token, **ASYNC)).status_code == 404
    )


def test_progress_while_queued_and_cancel(client, system_token, patient):
    resp = kick_off(client, system_token)
    path = status_path(resp)
    r = client.get(path, headers=_headers(system_token))
    assert r.status_code == 202
    assert "X-Progress" in r
    assert client.delete(path, headers=_headers(system_token)).status_code == 202
    assert client.get(path, headers=_headers(system_token)).status_code == 404
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.CANCELLED
    assert bulk.run(str(job.pk)) == "skipped"  # the worker's message, if it comes, does nothing


def test_access_refused_without_system_scope(client, make_token, clinician, patient):
    user_token = make_token(clinician, "user/*.read")
    assert kick_off(client, user_token).status_code == 403
    # A client without system scopes learns nothing about groups: 403 whether the group exists or not.
    assert kick_off(client, user_token, f"Group/{patient.department_id}/$export").status_code == 403
    assert kick_off(client, user_token, "Group/999999/$export").status_code == 403
    assert kick_off(client, user_token, "Patient/$export").status_code == 403
    assert client.get("/fhir/$export", headers=ASYNC).status_code == 401
    system_token = make_token(None, "system/Patient.read", app_user=clinician)
    assert kick_off(client, system_token, _type="Condition").status_code == 403
    assert kick_off(client, system_token, _type="Nope").status_code == 400
    assert kick_off(client, system_token, _since="yesterday").status_code == 400
    # Without Prefer: respond-async
    r = client.get("/fhir/$export", headers=_headers(system_token))
    assert r.status_code == 400
    assert "respond-async" in r.json()["issue"][0]["diagnostics"]
    assert not ExportJob.objects.exists()


def test_another_clients_job_and_files_are_404_and_expiry_deletes(
    client, make_token, clinician, chart, patient
):
    mine = make_token(None, "system/*.read", app_user=clinician)
    theirs = make_token(None, "system/*.read", app_user=clinician)  # same account, another client
    resp = kick_off(client, mine, _type="Patient")
    job = ExportJob.objects.get()
    assert (
        bulk.run(str(job.pk)) == ExportJob.Status.DONE
    )  # the worker's function, run here to inspect the files
    job.refresh_from_db()
    url = f"/fhir/$export-file/{job.pk}/Patient.ndjson"
    assert client.get(url, headers=_headers(mine)).status_code == 200
    assert client.get(url, headers=_headers(theirs)).status_code == 404
    assert client.get(status_path(resp), headers=_headers(theirs)).status_code == 404
    assert (
        client.get(f"/fhir/$export-file/{job.pk}/Condition.ndjson", headers=_headers(mine)).status_code == 404
    )

    name = job.output[0]["file"]
    assert bulk.export_storage().exists(name)
    assert bulk.expire() == 0  # not yet
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bulk.expire() == 1
    assert not bulk.export_storage().exists(name)
    assert client.get(url, headers=_headers(mine)).status_code == 404
    assert client.get(status_path(resp), headers=_headers(mine)).status_code == 404
    assert ExportJob.objects.get().status == ExportJob.Status.EXPIRED


def test_queries_do_not_grow_with_patients(clinician, department):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.services import care_team_grant
    from tests.factories import make_patient

    counts = []
    for batch in (2, 5):  # 2 patients, then 7
        for i in range(batch):
            p = make_patient(department=department, given_name=f"Pat{len(counts)}x{i}")
            care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
        job = ExportJob.objects.create(
            level="system",
            actor=clinician,
            application=_app(clinician),
            request_url="x",
            types=["Patient", "Condition", "Encounter", "Observation", "Appointment"],
        )
        with CaptureQueriesContext(connection) as q:
            assert bulk.run(str(job.pk)) == ExportJob.Status.DONE
        counts.append(len(q.captured_queries))
    assert counts[0] == counts[1]


def _app(user):
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    return Application.objects.create(
        name="q",
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
