"""Patient/$everything pages (`_count`, `_offset`, next links) and honours `_since`; the admin's export-job page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from encounters.models import Appointment, Problem

pytestmark = pytest.mark.django_db


def _ids(bundle):
    return [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle.get("entry", [])]


def test_everything_pages_through_next_links(client, api, make_token, clinician, patient, chart):
    token = make_token(clinician, "user/*.read")
    whole = api(token, f"Patient/{patient.pk}/$everything").json()
    assert "link" not in whole or not any(link["relation"] == "next" for link in whole["link"])
    seen, url, pages = [], f"/fhir/Patient/{patient.pk}/$everything?_count=4", 0
    while url:
        page = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        assert page["total"] == whole["total"]
        assert len(page.get("entry", [])) <= 4
        seen += _ids(page)
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].split("testserver", 1)[1] if nxt else None
        pages += 1
    assert seen == _ids(whole)
    assert pages == -(-whole["total"] // 4)
    assert seen[0] == ("Patient", str(patient.pk))


def test_everything_since_and_bad_since(api, make_token, clinician, patient, chart):
    token = make_token(clinician, "user/*.read")
    since = timezone.now() + timedelta(seconds=1)
    Appointment.objects.filter(pk=chart.appt.pk).update(updated_at=since + timedelta(minutes=1))
    Appointment.objects.exclude(pk=chart.appt.pk).update(updated_at=since - timedelta(days=1))
    got = api(
        token, f"Patient/{patient.pk}/$everything", _since=since.isoformat(), _type="Appointment"
    ).json()
    assert _ids(got) == [("Patient", str(patient.pk)), ("Appointment", str(chart.appt.pk))]
    # Problems record their last change too (updated_at): only the one edited after _since comes.
    Problem.objects.filter(pk=chart.problem.pk).update(updated_at=since + timedelta(minutes=1))
    Problem.objects.exclude(pk=chart.problem.pk).update(updated_at=since - timedelta(days=1))
    got = api(token, f"Patient/{patient.pk}/$everything", _since=since.isoformat(), _type="Condition").json()
    assert _ids(got) == [("Patient", str(patient.pk)), ("Condition", str(chart.problem.pk))]
    # Saving a row renews its last-change time (auto_now).
    chart.resolved.description = "Asthma (childhood), resolved"
    chart.resolved.save()
    Problem.objects.filter(pk=chart.problem.pk).update(
        updated_at=chart.resolved.updated_at + timedelta(minutes=1)
    )
    got = api(
        token,
        f"Patient/{patient.pk}/$everything",
        _since=chart.resolved.updated_at.isoformat(),
        _type="Condition",
    ).json()
    assert {i for _, i in _ids(got)} == {str(patient.pk), str(chart.problem.pk), str(chart.resolved.pk)}
    bad = api(token, f"Patient/{patient.pk}/$everything", _since="2024-01-01")
    assert bad.status_code == 400
    assert "_since" in bad.json()["issue"][0]["diagnostics"]
    assert api(token, f"Patient/{patient.pk}/$everything", _count="1000").status_code == 400


def test_admin_lists_export_jobs_with_progress(client, clinician):
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    from fhirapi.models import ExportJob
    from tests.conftest import verified_client

    Application = get_application_model()
    app = Application.objects.create(
        name="bulk client",
        user=clinician,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    ExportJob.objects.create(
        level="system", actor=clinician, application=app, request_url="x", patients_total=8, patients_done=2
    )
    boss = get_user_model().objects.create_superuser("root.rita", "rita@example.test", "x-Long-pass-123")
    c = verified_client(client, boss)
    r = c.get("/admin/fhirapi/exportjob/")
    assert r.status_code == 200
    assert b'<progress max="100" value="25"' in r.content
    assert b"2 of 8 patients" in r.content
    assert b"/admin/fhirapi/exportjob/" in c.get("/admin/").content
