"""Issue 20: a filed result reaches its ordering clinician's inbox (critical first), and signing it off in either
place (the inbox or the result's own page) is one sign-off: the report is reviewed and the item is done."""

import pytest
from django.urls import reverse

from inbox import services as inbox_services
from inbox.models import InboxItem, Kind, Priority, State
from orders.models import ResultReport


def _critical_glucose(client, patient, catalogue, capture):
    glucose = catalogue["41653-7"]
    with capture(execute=True):  # the signal is sent once the filing commits
        resp = client.post(
            reverse("orders:in_office", args=[patient.pk]), {"test": glucose.pk, "c_41653-7": "452"}
        )
    assert resp.status_code == 302
    return ResultReport.objects.get()


@pytest.mark.django_db
def test_a_critical_result_is_a_critical_item_and_signing_it_in_the_inbox_signs_the_report(
    login, clinician, patient, catalogue, django_capture_on_commit_callbacks
):
    report = _critical_glucose(login(clinician), patient, catalogue, django_capture_on_commit_callbacks)
    item = InboxItem.objects.get()
    assert (item.kind, item.priority, item.assignee, item.patient) == (
        Kind.CRITICAL_RESULT,
        Priority.CRITICAL,
        clinician,
        patient,
    )
    assert item.source_url() == reverse("orders:report", args=[report.pk])
    with django_capture_on_commit_callbacks(execute=True):
        inbox_services.item_sign_off(actor=clinician, item_id=item.pk, comment="Called; repeat tomorrow.")
    report.refresh_from_db()
    item.refresh_from_db()
    assert report.reviewed_by == clinician and report.review_comment == "Called; repeat tomorrow."
    assert item.state == State.DONE


@pytest.mark.django_db
def test_signing_off_on_the_results_page_closes_the_inbox_item(
    login, clinician, patient, catalogue, django_capture_on_commit_callbacks
):
    client = login(clinician)
    report = _critical_glucose(client, patient, catalogue, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(reverse("orders:sign_off", args=[report.pk]), {"comment": "Seen, treated."})
    assert resp.status_code in (200, 302)
    item = InboxItem.objects.get()
    assert item.state == State.DONE and item.completed_by == clinician and item.comment == "Seen, treated."
