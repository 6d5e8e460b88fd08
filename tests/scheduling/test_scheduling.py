from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from encounters.models import Encounter
from scheduling import reminders as sched_reminders
from scheduling import selectors as sched_selectors
from scheduling import series as sched_series
from scheduling import services as sched_services
from scheduling import waitlist as sched_waitlist
from scheduling.models import Appointment, AppointmentStatus, Reminder, WaitlistStatus, WorkingHours
from scheduling.recurrence import aware, clinic_tz


@pytest.mark.django_db
def test_book_and_refuse_double_booking(hours, front_desk, clinician, patient, appt_type, room, tomorrow_9):
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
        room=room,
    )
    assert a.end - a.start == timedelta(minutes=20)
    assert Reminder.objects.filter(appointment=a).count() == 2
    with pytest.raises(ValidationError, match="already has an appointment"):
        sched_services.appointment_book(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            start=tomorrow_9 + timedelta(minutes=10),
        )
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
def test_outsider_cannot_book(colleague, other_patient, clinician, appt_type, tomorrow_9):
    with pytest.raises(Http404):
        sched_services.appointment_book(
            actor=colleague,
            patient_id=other_patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            start=tomorrow_9,
        )


@pytest.mark.django_db
def test_weekly_series_keeps_local_time_across_dst(hours, front_desk, clinician, patient, appt_type):
    # 2030-10-21 is a Monday; US DST ends on Sunday 2030-11-03.
    start = aware(datetime(2030, 10, 21, 9, 0))
    series = sched_series.series_create(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        dtstart=start,
        rrule="FREQ=WEEKLY;COUNT=4",
    )
    rows = list(series.appointments.order_by("start"))
    assert len(rows) == 4
    assert {r.start.astimezone(clinic_tz()).hour for r in rows} == {9}
    assert {r.start.utcoffset() is not None for r in rows} == {True}
    utc_hours = [r.start.astimezone(clinic_tz()).utcoffset() for r in rows]
    assert utc_hours[0] != utc_hours[-1]  # EDT then EST


@pytest.mark.django_db
def test_series_conflict_books_nothing(hours, front_desk, clinician, patient, appt_type):
    start = aware(datetime(2030, 10, 21, 9, 0))
    sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=start + timedelta(days=14),
    )
    with pytest.raises(ValidationError, match="Nothing was booked"):
        sched_series.series_create(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            dtstart=start,
            rrule="FREQ=WEEKLY;COUNT=4",
        )
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
def test_move_one_occurrence_and_following(hours, front_desk, clinician, patient, appt_type):
    start = aware(datetime(2030, 10, 21, 9, 0))
    series = sched_series.series_create(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        dtstart=start,
        rrule="FREQ=WEEKLY;COUNT=4",
    )
    rows = list(series.appointments.order_by("start"))
    sched_series.series_occurrence_move(
        actor=front_desk, appointment_id=rows[1].pk, start=rows[1].start + timedelta(hours=2), scope="this"
    )
    rows[1].refresh_from_db()
    assert rows[1].occurrence_start != rows[1].start  # an exception keeps its original occurrence start
    moved = sched_series.series_occurrence_move(
        actor=front_desk,
        appointment_id=rows[2].pk,
        start=aware(datetime(2030, 11, 4, 10, 0)),
        scope="following",
    )
    assert [timezone_hour(m.start) for m in moved] == [10, 10]
    assert Appointment.objects.count() == 4


def timezone_hour(dt):
    return dt.astimezone(clinic_tz()).hour


@pytest.mark.django_db
def test_bad_input(hours, front_desk, clinician, patient, appt_type, tomorrow_9):
    with pytest.raises(ValidationError):
        sched_series.series_create(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            dtstart=tomorrow_9,
            rrule="FREQ=WEEKLY",
        )
    with pytest.raises(ValidationError):
        sched_services.appointment_cancel(
            actor=front_desk,
            appointment_id=sched_services.appointment_book(
                actor=front_desk,
                patient_id=patient.pk,
                provider=clinician,
                appointment_type=appt_type,
                start=tomorrow_9,
            ).pk,
            reason="  ",
        )


@pytest.mark.django_db
def test_check_in_opens_encounter(hours, front_desk, clinician, patient, appt_type, tomorrow_9):
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    sched_services.appointment_advance(
        actor=front_desk, appointment_id=a.pk, status=AppointmentStatus.ARRIVED
    )
    sched_services.appointment_advance(
        actor=front_desk, appointment_id=a.pk, status=AppointmentStatus.CHECKED_IN
    )
    enc = Encounter.objects.get(appointment=a)
    assert enc.provider == clinician and enc.patient_id == patient.pk
    with pytest.raises(ValidationError):
        sched_services.appointment_advance(
            actor=front_desk, appointment_id=a.pk, status=AppointmentStatus.SCHEDULED
        )


@pytest.mark.django_db
def test_waitlist_offer_and_accept(hours, front_desk, clinician, patient, appt_type, tomorrow_9):
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    entry = sched_waitlist.waitlist_add(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        earliest=tomorrow_9.date(),
        latest=tomorrow_9.date() + timedelta(days=3),
    )
    sched_services.appointment_cancel(actor=front_desk, appointment_id=a.pk, reason="Patient travelling")
    offered = sched_waitlist.waitlist_offer_slot(provider_id=clinician.pk, start=a.start, end=a.end)
    assert offered.pk == entry.pk and offered.status == WaitlistStatus.OFFERED
    assert (
        sched_waitlist.waitlist_offer_slot(provider_id=clinician.pk, start=a.start, end=a.end) is None
    )  # idempotent
    booked = sched_waitlist.waitlist_accept(actor=front_desk, entry_id=entry.pk)
    assert booked.start == a.start


@pytest.mark.django_db
def test_slots_and_calendar_masking(
    front_desk, colleague, clinician, patient, other_patient, appt_type, tomorrow_9
):
    WorkingHours.objects.create(
        provider=clinician,
        location=_loc(),
        weekday=tomorrow_9.weekday(),
        start_time="09:00",
        end_time="10:00",
        effective_from=tomorrow_9.date(),
    )
    sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    slots = sched_selectors.slots_next(
        provider=clinician, appointment_type=appt_type, after=tomorrow_9 - timedelta(hours=1), days=0
    )
    assert [s.astimezone(clinic_tz()).strftime("%H:%M") for s in slots] == ["09:20", "09:40"]
    start, end = sched_selectors.day_bounds(tomorrow_9.date())
    assert [i.label for i in sched_selectors.calendar(actor=front_desk, start=start, end=end)] == [
        patient.display_name
    ]
    assert [i.label for i in sched_selectors.calendar(actor=colleague, start=start, end=end)] == ["Busy"]


def _loc():
    from scheduling.models import Location

    return Location.objects.get_or_create(name="Main clinic")[0]


@pytest.mark.django_db
def test_reminders_idempotent(hours, front_desk, clinician, patient, appt_type, tomorrow_9, mailoutbox):
    patient.email = "maria@example.org"
    patient.save()
    sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    now = tomorrow_9 - timedelta(hours=1)
    sched_reminders.reminders_send_due(now=now)
    sched_reminders.reminders_send_due(now=now)
    assert len(mailoutbox) == 1
