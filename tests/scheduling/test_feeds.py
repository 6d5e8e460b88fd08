"""The provider's iCalendar subscription: a secret token URL (no session), valid RFC 5545 with escaping and
folding done by the icalendar library, no patient information, revocable, and audited as a schedule read."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from audit.models import AccessEvent, Action
from scheduling import services as sched_services
from scheduling.models import AppointmentType, ProviderFeed


def _feed_url(client, provider=None) -> str:
    data = {"action": "issue"}
    if provider is not None:
        data["provider"] = provider.pk
    resp = client.post(reverse("scheduling:calendar_feed"), data)
    assert resp.status_code == 200
    return resp.context["url"]


@pytest.fixture
def booked(hours, front_desk, clinician, patient, tomorrow_9):
    # A type name that needs escaping (comma, semicolon) and a long one that needs folding (RFC 5545 3.1).
    atype = AppointmentType.objects.create(
        name="Follow-up, diabetes; extended review with dietitian and nurse educator present",
        duration_minutes=40,
    )
    return sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=atype,
        start=tomorrow_9,
        reason="Hypoglycaemia at night",
    )


@pytest.mark.django_db
def test_subscription_feed_parses_has_no_patient_data_and_is_audited(login, clinician, patient, booked):
    url = _feed_url(login(clinician))
    assert "/schedule/feeds/" in url
    token = url.rsplit("/feeds/", 1)[1].split("/")[0]
    assert not ProviderFeed.objects.filter(token_sha256=token).exists()  # only the hash is stored
    resp = Client().get(url)  # a calendar app: no session
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/calendar")
    raw = resp.content
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))  # folded
    assert b"\\," in raw and b"\\;" in raw  # escaped
    cal = Calendar.from_ical(raw)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 1
    ev = events[0]
    assert str(ev["summary"]).startswith("Busy \u2013 Follow-up, diabetes; extended")
    assert ev.decoded("dtstart") == booked.start and ev.decoded("dtend") == booked.end
    text = raw.decode()
    for secret in (patient.family_name, patient.given_name, patient.mrn, "Hypoglycaemia"):
        assert secret not in text
    event = AccessEvent.objects.get(channel="ical")
    assert event.category == "appointments" and event.action == Action.LIST and event.actor == clinician
    assert [str(p) for p in event.patient_ids] == [str(patient.pk)]
    assert ProviderFeed.objects.get(provider=clinician).last_used_at is not None


@pytest.mark.django_db
def test_regenerating_and_revoking_kill_the_old_url(login, clinician, booked):
    client = login(clinician)
    first = _feed_url(client)
    second = _feed_url(client)
    assert first != second
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200
    client.post(reverse("scheduling:calendar_feed"), {"action": "revoke"})
    assert Client().get(second).status_code == 404
    assert Client().get(reverse("scheduling:provider_feed_ics", args=["not-a-token"])).status_code == 404


@pytest.mark.django_db
def test_who_manages_a_feed(login, clinician, colleague, front_desk, booked):
    # The front desk manages any provider's feed; a colleague only their own.
    url = _feed_url(login(front_desk), provider=clinician)
    assert Client().get(url).status_code == 200
    resp = login(colleague).post(
        reverse("scheduling:calendar_feed"), {"action": "revoke", "provider": clinician.pk}
    )
    assert resp.status_code == 403
    assert Client().get(url).status_code == 200


@pytest.mark.django_db
def test_signed_in_download_uses_the_library_too(login, front_desk, clinician, patient, booked):
    resp = login(front_desk).get(reverse("scheduling:provider_ical", args=[clinician.pk]))
    cal = Calendar.from_ical(resp.content)
    (ev,) = list(cal.walk("VEVENT"))
    assert patient.display_name in str(ev["summary"])  # the desk may see who it is
    assert ev.decoded("dtend") - ev.decoded("dtstart") == timedelta(minutes=40)
