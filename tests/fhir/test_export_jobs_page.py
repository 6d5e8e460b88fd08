"""The Bulk Data exports page: the practice admin follows each job's progress; the list refreshes itself only while
a job is under way, and costs the same queries for 3 jobs as for 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from oauth2_provider.models import get_application_model

from fhirapi.models import ExportJob


def _job(user, app, **kw):
    return ExportJob.objects.create(
        level="system", actor=user, application=app, request_url="x", types=["Patient"], **kw
    )


@pytest.fixture
def app(admin_user):
    Application = get_application_model()
    return Application.objects.create(
        name="Registry feed",
        user=admin_user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )


@pytest.mark.django_db
def test_the_admin_sees_each_job_with_its_progress_and_the_running_list_polls(login, admin_user, app):
    _job(admin_user, app, status=ExportJob.Status.RUNNING, patients_total=200, patients_done=50)
    _job(
        admin_user,
        app,
        status=ExportJob.Status.DONE,
        patients_total=10,
        patients_done=10,
        output=[{"type": "Patient", "file": "x", "count": 10}],
    )
    resp = login(admin_user).get(reverse("export:jobs"))
    html = resp.content.decode()
    assert resp.status_code == 200
    assert 'value="25"' in html and "50 of 200 patients" in html  # the running job, a quarter done
    assert "Patient 10" in html and "Registry feed" in html
    assert 'hx-trigger="every 3s"' in html  # a job under way: the list follows it


@pytest.mark.django_db
def test_with_every_job_finished_the_list_stops_polling(login, admin_user, app):
    _job(admin_user, app, status=ExportJob.Status.DONE, patients_total=1, patients_done=1)
    html = login(admin_user).get(reverse("export:jobs")).content.decode()
    assert "every 3s" not in html and "Done" in html


@pytest.mark.django_db
def test_a_clinician_is_told_they_may_not(login, clinician):
    resp = login(clinician).get(reverse("export:jobs"))
    assert resp.status_code == 403


@pytest.mark.django_db
def test_the_admin_reaches_the_page_from_the_top_bar(login, admin_user):
    html = login(admin_user).get(reverse("home")).content.decode()
    assert f'href="{reverse("export:jobs")}"' in html


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_for_3_and_30_jobs(login, admin_user, app):
    client = login(admin_user)
    url = reverse("export:jobs")
    client.get(url)
    counts = []
    for n in (3, 27):
        for _ in range(n):
            _job(admin_user, app, status=ExportJob.Status.RUNNING, patients_total=4, patients_done=1)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
