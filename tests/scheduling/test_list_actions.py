"""Waitlist entries removed or declined from the list page."""

import pytest
from django.urls import reverse

from scheduling import services as sched_services
from scheduling import waitlist as sched_waitlist
from scheduling.models import WaitlistEntry, WaitlistStatus

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.django_db
def test_waitlist_remove_and_decline(
    hours, login, front_desk, colleague, clinician, patient, appt_type, tomorrow_9
):
    from tests.factories import make_patient

    other = make_patient(
        given_name="Wendy", family_name="Wait", ssn="222-33-4444", department=patient.department
    )
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    first = sched_waitlist.waitlist_add(
        actor=front_desk,
        patient_id=other.pk,
        provider=clinician,
        appointment_type=appt_type,
        earliest=tomorrow_9.date(),
        latest=tomorrow_9.date(),
    )
    second = sched_waitlist.waitlist_add(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        earliest=tomorrow_9.date(),
        latest=tomorrow_9.date(),
    )
    sched_services.appointment_cancel(actor=front_desk, appointment_id=a.pk, reason="Travelling")
    assert (
        sched_waitlist.waitlist_offer_slot(provider_id=clinician.pk, start=a.start, end=a.end).pk == first.pk
    )
    client = login(front_desk)
    page = client.get(reverse("scheduling:waitlist")).content.decode()
    assert "Decline offer" in page and "Remove" in page
    url = reverse("scheduling:waitlist_decline", args=[first.pk])
    assert client.get(url).status_code == 405
    resp = client.post(url, **HTMX)
    assert resp.status_code == 200 and "Offer declined" in resp.content.decode()
    first.refresh_from_db()
    assert first.status == WaitlistStatus.WAITING and first.offered_start is None
    # The slot goes to the next patient, never back to the one who declined it.
    assert (
        sched_waitlist.waitlist_offer_slot(provider_id=clinician.pk, start=a.start, end=a.end).pk == second.pk
    )
    resp = client.post(reverse("scheduling:waitlist_remove", args=[second.pk]))
    assert resp.status_code == 302
    second.refresh_from_db()
    assert second.status == WaitlistStatus.REMOVED
    assert sched_waitlist.waitlist_offer_slot(provider_id=clinician.pk, start=a.start, end=a.end) is None
    assert login(colleague).post(reverse("scheduling:waitlist_remove", args=[first.pk])).status_code == 404
    assert WaitlistEntry.objects.get(pk=first.pk).status == WaitlistStatus.WAITING
