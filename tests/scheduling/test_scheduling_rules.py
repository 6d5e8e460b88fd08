"""Working hours, time off and blocks at booking; the rolling horizon of recurring series; series splits; slots
(time off, DST, duplicate hours); refused writes leave a committed denied event."""

from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from audit.models import AccessEvent, Outcome
from scheduling import recurrence, selectors, services, tasks
from scheduling import series as sched_series
from scheduling import waitlist as sched_waitlist
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Location,
    Series,
    TimeOff,
    TimeOffKind,
    WaitlistStatus,
    WorkingHours,
)
from scheduling.recurrence import aware, clinic_tz


def _monday(weeks_ahead=1) -> date:
    today = timezone.localdate()
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks_ahead - 1))


def _at(day, hh, mm=0):
    return aware(datetime.combine(day, time(hh, mm)))


def _weekdays_8_to_17(provider):
    loc = Location.objects.get_or_create(name="Main clinic")[0]
    for d in range(5):
        WorkingHours.objects.create(
            provider=provider,
            location=loc,
            weekday=d,
            start_time=time(8),
            end_time=time(17),
            effective_from=date(2020, 1, 1),
        )


def _book(front_desk, patient, clinician, appt_type, start, **kw):
    return services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=start,
        **kw,
    )


# ------------------------------------------------------------------ working hours, time off, blocks
@pytest.mark.django_db
def test_outside_working_hours_refused_unless_overridden_with_reason(
    front_desk, clinician, patient, appt_type
):
    _weekdays_8_to_17(clinician)
    monday = _monday()
    with pytest.raises(ValidationError) as exc:
        _book(front_desk, patient, clinician, appt_type, _at(monday, 17, 30))
    text = " ".join(exc.value.messages)
    assert "outside Alice Able's working hours" in text and "08:00\u201317:00" in text
    assert "give the reason" in text
    saturday = monday + timedelta(days=5)
    with pytest.raises(ValidationError, match="no hours"):
        _book(front_desk, patient, clinician, appt_type, _at(saturday, 10))
    assert not Appointment.objects.exists()
    a = _book(
        front_desk, patient, clinician, appt_type, _at(monday, 17, 30), override_reason="Urgent, seen late"
    )
    assert a.override_reason == "Urgent, seen late"
    # An appointment running past the end of the hours is outside them too.
    with pytest.raises(ValidationError, match="outside"):
        _book(front_desk, patient, clinician, appt_type, _at(monday, 16, 50))


@pytest.mark.django_db
def test_time_off_is_never_bookable_and_blocks_need_an_override(front_desk, clinician, patient, appt_type):
    _weekdays_8_to_17(clinician)
    monday = _monday()
    TimeOff.objects.create(
        provider=clinician,
        kind=TimeOffKind.TIME_OFF,
        start=_at(monday, 0),
        end=_at(monday, 23),
        reason="Holiday",
    )
    TimeOff.objects.create(
        provider=clinician,
        kind=TimeOffKind.BLOCK,
        start=_at(monday + timedelta(days=1), 12),
        end=_at(monday + timedelta(days=1), 13),
        reason="Staff meeting",
    )
    with pytest.raises(ValidationError) as exc:
        _book(front_desk, patient, clinician, appt_type, _at(monday, 10), override_reason="Please")
    assert "time off" in " ".join(exc.value.messages) and "Holiday" in " ".join(exc.value.messages)
    with pytest.raises(ValidationError, match="blocked"):
        _book(front_desk, patient, clinician, appt_type, _at(monday + timedelta(days=1), 12, 20))
    assert not Appointment.objects.exists()
    a = _book(
        front_desk,
        patient,
        clinician,
        appt_type,
        _at(monday + timedelta(days=1), 12, 20),
        override_reason="Only time the patient can come",
    )
    assert a.pk


@pytest.mark.django_db
def test_series_over_time_off_names_the_dates_and_books_nothing(front_desk, clinician, patient, appt_type):
    _weekdays_8_to_17(clinician)
    monday = _monday()
    TimeOff.objects.create(
        provider=clinician,
        start=_at(monday + timedelta(weeks=2), 0),
        end=_at(monday + timedelta(weeks=2), 23),
    )
    with pytest.raises(ValidationError) as exc:
        sched_series.series_create(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            dtstart=_at(monday, 9),
            rrule="FREQ=WEEKLY;COUNT=4",
        )
    assert "time off" in " ".join(exc.value.messages) and "Nothing was booked" in " ".join(exc.value.messages)
    assert not Appointment.objects.exists() and not Series.objects.exists()


@pytest.mark.django_db
def test_overlapping_working_hours_refused_with_a_clear_message(clinician):
    _weekdays_8_to_17(clinician)
    loc = Location.objects.get()
    clash = WorkingHours(
        provider=clinician,
        location=loc,
        weekday=0,
        start_time=time(16),
        end_time=time(19),
        effective_from=date(2025, 1, 1),
    )
    with pytest.raises(ValidationError) as exc:
        clash.full_clean()
    assert "overlap hours already set" in " ".join(exc.value.messages)
    with pytest.raises(IntegrityError, match="wh_no_overlap"), transaction.atomic():
        clash.save()  # the database refuses it too
    # Adjacent hours and ended rows are fine.
    WorkingHours.objects.create(
        provider=clinician,
        location=loc,
        weekday=0,
        start_time=time(17),
        end_time=time(19),
        effective_from=date(2025, 1, 1),
    )
    WorkingHours.objects.filter(weekday=1).update(effective_to=date(2024, 12, 31))
    WorkingHours.objects.create(
        provider=clinician,
        location=loc,
        weekday=1,
        start_time=time(9),
        end_time=time(12),
        effective_from=date(2025, 1, 1),
    )


# ------------------------------------------------------------------ slots
@pytest.mark.django_db
def test_slots_skip_time_off_and_blocks(clinician, appt_type):
    _weekdays_8_to_17(clinician)
    monday = _monday()
    TimeOff.objects.create(provider=clinician, start=_at(monday, 8), end=_at(monday, 9))
    TimeOff.objects.create(
        provider=clinician, kind=TimeOffKind.BLOCK, start=_at(monday, 9, 20), end=_at(monday, 9, 40)
    )
    slots = selectors.slots_next(
        provider=clinician, appointment_type=appt_type, after=_at(monday, 0), days=0, limit=4
    )
    assert [s.astimezone(clinic_tz()).strftime("%H:%M") for s in slots] == [
        "09:00",
        "09:40",
        "10:00",
        "10:20",
    ]


@pytest.mark.django_db
def test_slots_across_a_dst_change(clinician, appt_type):
    """Spring forward in New York: 2030-03-10 02:00 EST becomes 03:00 EDT. A night shift from 00:00 to 04:00 wall
    clock lasts 3 hours, so it holds 9 twenty-minute slots, and none at a 02:xx time that does not exist."""
    assert str(clinic_tz()) == "America/New_York"
    day = date(2030, 3, 10)
    loc = Location.objects.get_or_create(name="Main clinic")[0]
    WorkingHours.objects.create(
        provider=clinician,
        location=loc,
        weekday=day.weekday(),
        start_time=time(0),
        end_time=time(4),
        effective_from=day,
    )
    WorkingHours.objects.create(
        provider=clinician,
        location=loc,
        weekday=(day + timedelta(days=1)).weekday(),
        start_time=time(9),
        end_time=time(10),
        effective_from=day,
    )
    slots = selectors.slots_next(
        provider=clinician,
        appointment_type=appt_type,
        after=aware(datetime(2030, 3, 9, 23)),
        days=2,
        limit=50,
    )
    local = [s.astimezone(clinic_tz()).strftime("%m-%d %H:%M") for s in slots]
    assert local == [
        "03-10 00:00",
        "03-10 00:20",
        "03-10 00:40",
        "03-10 01:00",
        "03-10 01:20",
        "03-10 01:40",
        "03-10 03:00",
        "03-10 03:20",
        "03-10 03:40",
        "03-11 09:00",
        "03-11 09:20",
        "03-11 09:40",
    ]
    # The day after, 09:00 is 13:00 UTC (EDT), not 14:00.
    assert slots[-3].astimezone(recurrence.ZoneInfo("UTC")).hour == 13


@pytest.mark.django_db
def test_duplicate_hours_rows_offer_each_slot_once(clinician, appt_type):
    """Rows that predate the no-overlap constraint (same hours twice) must not double the slots."""
    _weekdays_8_to_17(clinician)
    monday = _monday()
    with transaction.atomic():
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks, or ALTER TABLE refuses
            cur.execute("ALTER TABLE encounters_workinghours DROP CONSTRAINT wh_no_overlap")
        loc = Location.objects.get()
        WorkingHours.objects.create(
            provider=clinician,
            location=loc,
            weekday=0,
            start_time=time(8),
            end_time=time(17),
            effective_from=date(2021, 1, 1),
        )
        slots = selectors.slots_next(
            provider=clinician, appointment_type=appt_type, after=_at(monday, 0), days=0, limit=5
        )
        transaction.set_rollback(True)
    assert len(slots) == len(set(slots)) == 5


# ------------------------------------------------------------------ rolling horizon
def _series(front_desk, patient, clinician, appt_type, start, rule, **kw):
    return sched_series.series_create(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        dtstart=start,
        rrule=rule,
        **kw,
    )


@pytest.mark.django_db
def test_count_300_is_booked_over_time_never_dropped(
    hours, front_desk, clinician, patient, appt_type, settings
):
    settings.SERIES_HORIZON_DAYS = 365
    start = _at(_monday(), 9)
    series = _series(front_desk, patient, clinician, appt_type, start, "FREQ=WEEKLY;COUNT=300")
    first = series.appointments.count()
    assert 52 <= first <= 54 and not series.fully_materialised
    # The daily task, run as time passes: nothing more until the horizon moves, then the next weeks.
    assert sched_series.series_extend_due(now=timezone.now()) == 0
    for years in range(1, 7):
        sched_series.series_extend_due(now=timezone.now() + timedelta(days=365 * years))
    series.refresh_from_db()
    rows = list(series.appointments.order_by("start"))
    assert len(rows) == 300 and series.fully_materialised and series.skipped == []
    assert len({r.occurrence_start for r in rows}) == 300
    assert {r.start.astimezone(clinic_tz()).strftime("%a %H:%M") for r in rows} == {
        "Mon 09:00"
    }  # across DSTs
    assert rows[-1].start.date() >= (start + timedelta(weeks=299)).date()
    assert (
        sched_series.series_extend_due(now=timezone.now() + timedelta(days=3650)) == 0
    )  # complete: idempotent


@pytest.mark.django_db
def test_long_until_and_skipped_occurrences_are_listed(
    hours, front_desk, clinician, patient, other_patient, appt_type, settings, login
):
    settings.SERIES_HORIZON_DAYS = 180
    start = _at(_monday(), 10)
    until = (start + timedelta(days=3 * 365)).date()
    series = _series(front_desk, patient, clinician, appt_type, start, f"FREQ=WEEKLY;UNTIL={until:%Y%m%d}")
    booked = series.appointments.count()
    assert 25 <= booked <= 27
    # Someone else takes the slot of the 40th week before the series reaches it; the provider is away on the 50th.
    week40 = start + timedelta(weeks=40)
    Appointment.objects.create(
        patient=other_patient,
        provider=clinician,
        appointment_type=appt_type,
        start=week40,
        end=week40 + timedelta(minutes=20),
    )
    week50 = start + timedelta(weeks=50)
    TimeOff.objects.create(
        provider=clinician, start=week50 - timedelta(hours=2), end=week50 + timedelta(hours=8)
    )
    for months in range(1, 40):
        sched_series.series_extend_due(now=timezone.now() + timedelta(days=30 * months))
    series.refresh_from_db()
    expected = len(
        recurrence.occurrences(series.rrule, series.dtstart, until=start + timedelta(days=4 * 365))[0]
    )
    assert series.fully_materialised
    assert series.appointments.count() == expected - 2
    assert sorted(datetime.fromisoformat(s["start"]) for s in series.skipped) == [week40, week50]
    # The front desk sees them on the patient's appointments page.
    page = login(front_desk).get(f"/schedule/patients/{patient.pk}/").content.decode()
    assert "could not be booked" in page and "time off" in page and "already has an appointment" in page


# ------------------------------------------------------------------ splits: "all" covers every part
@pytest.mark.django_db
def test_after_a_split_all_covers_every_part(hours, front_desk, clinician, patient, appt_type):
    monday = _monday()
    series = _series(front_desk, patient, clinician, appt_type, _at(monday, 9), "FREQ=WEEKLY;COUNT=8")
    rows = list(series.appointments.order_by("start"))
    # "This and following" from the 4th: the series splits in two parts.
    sched_series.series_occurrence_move(
        actor=front_desk,
        appointment_id=rows[3].pk,
        start=_at(monday + timedelta(weeks=3, days=1), 9),
        scope="following",
    )
    parts = list(Series.objects.order_by("dtstart"))
    assert len(parts) == 2 and parts[1].root_id == parts[0].pk
    assert Appointment.objects.filter(series=parts[0]).count() == 3
    assert Appointment.objects.filter(series=parts[1]).count() == 5
    # "All" from an occurrence of the first part moves the second part too.
    moved = sched_series.series_occurrence_move(
        actor=front_desk, appointment_id=rows[0].pk, start=_at(monday, 11), scope="all"
    )
    assert len(moved) == 8
    hours_now = sorted(
        a.start.astimezone(clinic_tz()).strftime("%a %H:%M") for a in Appointment.objects.all()
    )
    assert hours_now == ["Mon 11:00"] * 3 + ["Tue 11:00"] * 5
    # And "all" cancels every part, and no part produces new occurrences afterwards.
    n = sched_series.series_cancel(
        actor=front_desk, appointment_id=rows[5].pk, reason="Moved away", scope="all"
    )
    assert n == 8
    assert set(Appointment.objects.values_list("status", flat=True)) == {AppointmentStatus.CANCELLED}
    assert all(p.fully_materialised for p in Series.objects.all())
    assert sched_series.series_extend_due(now=timezone.now() + timedelta(days=400)) == 0


@pytest.mark.django_db
def test_moving_following_offers_the_freed_slots_to_the_waitlist(
    hours,
    front_desk,
    clinician,
    patient,
    other_patient,
    appt_type,
    department,
    django_capture_on_commit_callbacks,
):
    monday = _monday()
    series = _series(front_desk, patient, clinician, appt_type, _at(monday, 9), "FREQ=WEEKLY;COUNT=3")
    rows = list(series.appointments.order_by("start"))
    entry = sched_waitlist.waitlist_add(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        earliest=monday + timedelta(weeks=1),
        latest=monday + timedelta(weeks=2),  # both freed slots fit: the earlier one must be offered
    )
    with django_capture_on_commit_callbacks() as callbacks:
        sched_series.series_occurrence_move(
            actor=front_desk,
            appointment_id=rows[1].pk,
            start=_at(monday + timedelta(weeks=1), 14),
            scope="following",
        )
    queued = [c for c in callbacks if c.__qualname__.startswith("slots_freed")]
    assert len(queued) == 1  # the freed slots go to one waitlist task, in the order they are to be offered
    # Given latest first, the task's argument is earliest first, and the task offers the earlier slot.
    payload = services.freed_slots_payload(
        [(clinician.pk, rows[2].start, rows[2].end), (clinician.pk, rows[1].start, rows[1].end)]
    )
    assert [slot[1] for slot in payload] == [rows[1].start.isoformat(), rows[2].start.isoformat()]
    assert tasks.waitlist_offer_slots(payload) == [
        str(entry.pk)
    ]  # run in this process, as the worker runs it
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.OFFERED and entry.offered_start == rows[1].start


# ------------------------------------------------------------------ refused writes: the denied event survives
@pytest.mark.django_db
def test_outsider_cancel_gets_404_and_one_committed_denied_event(
    hours, front_desk, colleague, clinician, patient, appt_type, tomorrow_9
):
    a = _book(front_desk, patient, clinician, appt_type, tomorrow_9)
    for service, kwargs in [
        (services.appointment_cancel, {"reason": "x"}),
        (services.appointment_reschedule, {"start": tomorrow_9 + timedelta(hours=1)}),
        (services.appointment_advance, {"status": AppointmentStatus.ARRIVED}),
        (sched_series.series_cancel, {"reason": "x", "scope": "all"}),
        (sched_series.series_occurrence_move, {"start": tomorrow_9, "scope": "all"}),
    ]:
        before = AccessEvent.objects.filter(
            actor=colleague, outcome=Outcome.DENIED, patient_id=patient.pk
        ).count()
        with pytest.raises(Http404):
            service(actor=colleague, appointment_id=a.pk, **kwargs)
        after = AccessEvent.objects.filter(
            actor=colleague, outcome=Outcome.DENIED, patient_id=patient.pk
        ).count()
        assert after == before + 1, service.__name__
    a.refresh_from_db()
    assert a.status == AppointmentStatus.SCHEDULED and a.start == tomorrow_9
