"""Bad input to scheduling gets a clear message and saves nothing: races refused by the database, reversed ranges,
overlapping times, calendar dates out of range."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from scheduling import guards as sched_guards
from scheduling import services as sched_services
from scheduling import waitlist as sched_waitlist
from scheduling.models import Appointment, WaitlistEntry


def _messages(exc) -> str:
    return " ".join(exc.value.messages)


@pytest.mark.django_db
def test_database_refusals_become_messages_not_raw_errors(clinician, patient, appt_type):
    """The race path: a row the checks did not see coming is refused by the database, worded for people."""
    entry = WaitlistEntry(
        patient=patient,
        provider=clinician,
        appointment_type=appt_type,
        earliest=date(2030, 5, 2),
        latest=date(2030, 5, 1),
    )
    with pytest.raises(ValidationError) as exc:
        sched_guards.save_guarded(entry, force_insert=True)
    assert _messages(exc) == "The latest date must not be before the earliest date."
    assert "Constraint" not in _messages(exc) and "waitlist_range_order" not in _messages(exc)


@pytest.mark.django_db
def test_reversed_waitlist_range(front_desk, login, clinician, patient, appt_type):
    with pytest.raises(ValidationError) as exc:
        sched_waitlist.waitlist_add(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            earliest=date(2030, 5, 2),
            latest=date(2030, 5, 1),
        )
    assert _messages(exc) == "The latest date must not be before the earliest date."
    resp = login(front_desk).post(
        reverse("scheduling:waitlist_add", args=[patient.pk]),
        {
            "provider": clinician.pk,
            "appointment_type": appt_type.pk,
            "earliest": "2030-05-02",
            "latest": "2030-05-01",
        },
    )
    body = resp.content.decode()
    assert resp.status_code == 200 and "The latest date must not be before the earliest date." in body
    assert "Constraint" not in body
    assert not WaitlistEntry.objects.exists()


@pytest.mark.django_db
def test_overlapping_times(
    hours, front_desk, nurse, clinician, colleague, patient, appt_type, room, tomorrow_9
):
    from tests.scheduling.fixtures import open_hours

    open_hours(colleague)
    sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
        room=room,
    )
    with pytest.raises(ValidationError) as exc:
        sched_services.appointment_book(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            start=tomorrow_9 + timedelta(minutes=10),
        )
    assert "already has an appointment at that time" in _messages(exc)
    with pytest.raises(ValidationError) as exc:  # another provider, the same room
        sched_services.appointment_book(
            actor=front_desk,
            patient_id=patient.pk,
            provider=colleague,
            appointment_type=appt_type,
            start=tomorrow_9 + timedelta(minutes=10),
            room=room,
        )
    assert "room is already booked" in _messages(exc)
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["scheduling:day_list", "scheduling:week"])
@pytest.mark.parametrize(
    "query",
    [
        "date=9999-12-31",
        "date=0001-01-01",
        "date=2026-13-40",
        "date=" + "9" * 300,
        "provider=99999999999999999999",
        "provider=abc&provider=-1",
    ],
)
def test_calendar_pages_answer_any_date_or_provider(front_desk, login, page, query):
    """A date at the edge of the calendar (its previous day or the week's end overflowed), a malformed one, an
    unknown provider: the page answers, showing today where the date cannot be shown."""
    resp = login(front_desk).get(reverse(page) + "?" + query)
    assert resp.status_code == 200
    if query.startswith("date="):
        today = timezone.localdate()
        shown = resp.context["day"] if page == "scheduling:day_list" else resp.context["monday"]
        assert shown in (today, today - timedelta(days=today.weekday()))
