"""The front desk's day in a real browser, with a real Celery worker: a weekly series booked, one occurrence moved,
a conflicting booking refused with a clear message, a cancellation offered to the waitlist by the worker, and
check-in opening the encounter."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from encounters.models import Encounter
from scheduling import series as sched_series
from scheduling import services as sched_services
from scheduling import waitlist as sched_waitlist
from scheduling.models import Appointment, AppointmentStatus, Colour, WaitlistStatus
from scheduling.recurrence import aware
from tests.conftest import browser_login, screenshot, wait_until
from tests.factories import make_patient
from tests.scheduling.factories import AppointmentTypeFactory, RoomFactory, working_week

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _next_monday():
    today = timezone.localdate()
    return today + timedelta(days=7 - today.weekday())  # 1 to 7 days ahead: always in the future


def _at(day, hh, mm=0):
    return aware(datetime.combine(day, time(hh, mm)))


def _local(dt_day, hh, mm=0) -> str:
    """The value a datetime-local input takes (clinic wall-clock time)."""
    return f"{dt_day:%Y-%m-%d}T{hh:02d}:{mm:02d}"


@pytest.fixture
def clinic(db, clinician, colleague):
    room = RoomFactory(name="Room 1")
    RoomFactory(location=room.location, name="Room 2")
    follow_up = AppointmentTypeFactory(name="Follow-up", duration_minutes=20, colour=Colour.BLUE)
    new = AppointmentTypeFactory(name="New patient", duration_minutes=40, colour=Colour.GREEN)
    video = AppointmentTypeFactory(
        name="Video visit", duration_minutes=20, colour=Colour.PURPLE, modality="video"
    )
    for provider in (clinician, colleague):
        working_week(provider, room.location)
    return {"room": room, "follow_up": follow_up, "new": new, "video": video}


def _busy_day(*, front_desk, clinician, colleague, department, clinic, monday):
    """Other patients on the same days, in different flow states, so the lists look like a real clinic."""
    people = [
        make_patient(given_name=g, family_name=f, ssn=f"111-22-{3000 + i}", department=department)
        for i, (g, f) in enumerate(
            [("John", "Smith"), ("Aiko", "Tanaka"), ("Peter", "Olsen"), ("Rosa", "Diaz")]
        )
    ]
    plan = [
        (people[0], clinician, clinic["new"], _at(monday, 10), [AppointmentStatus.ARRIVED]),
        (people[1], clinician, clinic["follow_up"], _at(monday, 11), []),
        (
            people[2],
            colleague,
            clinic["video"],
            _at(monday, 9),
            [AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_ROOM],
        ),
        (people[3], colleague, clinic["new"], _at(monday, 14), [AppointmentStatus.NO_SHOW]),
        (people[1], colleague, clinic["follow_up"], _at(monday + timedelta(days=2), 15), []),
        (people[0], clinician, clinic["follow_up"], _at(monday + timedelta(days=3), 8, 40), []),
    ]
    for patient, provider, atype, start, steps in plan:
        a = sched_services.appointment_book(
            actor=front_desk,
            patient_id=patient.pk,
            provider=provider,
            appointment_type=atype,
            start=start,
            reason="",
        )
        for status in steps:
            sched_services.appointment_advance(actor=front_desk, appointment_id=a.pk, status=status)


def test_front_desk_books_moves_conflicts_waitlist_and_checks_in(
    transactional_db, page, front_desk, clinician, colleague, department, patient, clinic, celery_worker_proc
):
    monday = _next_monday()
    waiting = make_patient(given_name="Wendy", family_name="Wait", ssn="222-33-4444", department=department)
    _busy_day(
        front_desk=front_desk,
        clinician=clinician,
        colleague=colleague,
        department=department,
        clinic=clinic,
        monday=monday,
    )
    browser_login(page, front_desk)

    # 1. A weekly series of four Monday 09:00 follow-ups.
    page.goto(reverse("scheduling:appointment_book", args=[patient.pk]))
    expect(page.locator("[data-testid=patient-banner]")).to_contain_text(patient.mrn)
    page.select_option("#id_provider", label="Alice Able")
    page.select_option("#id_appointment_type", label="Follow-up (20 min)")
    page.fill("#id_start", _local(monday, 9))
    page.select_option("#id_room", label="Main clinic \u2013 Room 1")
    page.fill("#id_reason", "Blood pressure follow-up")
    # Repeats in plain words: every week on Monday, four visits (FREQ=WEEKLY;BYDAY=MO;COUNT=4 underneath).
    page.check("#id_repeat")
    page.fill("#id_every", "1")
    page.check("#id_on_days_0")
    page.check("#id_ends_0")
    page.fill("#id_count", "4")
    page.click("main button:has-text('Book')")
    page.wait_for_url(reverse("scheduling:patient_schedule", args=[patient.pk]))
    expect(page.locator(".messages")).to_contain_text("Booked a series of 4 appointments.")
    rows = page.locator("[data-testid=patient-appointments] tbody tr")
    expect(rows).to_have_count(4)
    series = list(Appointment.objects.filter(patient=patient).order_by("start"))
    assert [a.start for a in series] == [_at(monday + timedelta(weeks=w), 9) for w in range(4)]

    # 2. The second occurrence moves to Tuesday 10:00 ("this one only"); the others stay.
    page.click(f"a[href='{reverse('scheduling:appointment_detail', args=[series[1].pk])}']")
    tuesday = monday + timedelta(days=8)
    page.fill("#move_start", _local(tuesday, 10))
    page.select_option("#move_scope", "this")
    page.click("main button:has-text('Move')")
    expect(page.locator(".messages")).to_contain_text("Appointment moved.")
    expect(page.locator("main")).to_contain_text("moved from")
    series[1].refresh_from_db()
    assert series[1].start == _at(tuesday, 10) and series[1].occurrence_start == _at(
        monday + timedelta(weeks=1), 9
    )
    assert Appointment.objects.get(pk=series[2].pk).start == _at(monday + timedelta(weeks=2), 9)

    # 3. Another patient at 09:10 on the first Monday: Dr Able is busy, the form says so and offers free slots.
    page.goto(reverse("scheduling:appointment_book", args=[waiting.pk]))
    page.select_option("#id_provider", label="Alice Able")
    page.select_option("#id_appointment_type", label="Follow-up (20 min)")
    page.fill("#id_start", _local(monday, 9, 10))
    page.click("main button:has-text('Book')")
    error = page.locator("[data-testid=form-error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("already has an appointment at that time")
    expect(page.locator("#slots li").first).to_be_visible()
    screenshot(page, "booking_conflict")
    assert not Appointment.objects.filter(patient=waiting).exists()

    # 4. Wendy waits for a Monday slot; the first occurrence is cancelled; the worker offers her the slot.
    sched_waitlist.waitlist_add(
        actor=front_desk,
        patient_id=waiting.pk,
        provider=clinician,
        appointment_type=clinic["follow_up"],
        earliest=monday,
        latest=monday + timedelta(days=4),
        note="Any morning",
    )
    page.goto(reverse("scheduling:appointment_detail", args=[series[0].pk]))
    page.fill("#cancel_reason", "Patient travelling")
    page.select_option("#cancel_scope", "this")
    page.click("main button:has-text('Cancel appointment')")
    expect(page.locator(".messages")).to_contain_text("Appointment cancelled.")
    expect(page.locator("[data-testid=appt-status]")).to_have_text("Cancelled")

    def offer_shown():
        page.goto(reverse("scheduling:waitlist"))
        return page.locator("[data-testid=offer]").count() > 0

    wait_until(offer_shown, timeout=30, interval=1)
    expect(page.locator("[data-testid=offer]")).to_contain_text(f"{monday:%a} {monday.day} {monday:%b} 09:00")
    page.click("main button:has-text('Accept and book')")
    expect(page.locator(".messages")).to_contain_text("Offer accepted: appointment booked.")
    booked = Appointment.objects.get(patient=waiting)
    assert booked.start == _at(monday, 9) and booked.status == AppointmentStatus.SCHEDULED
    assert waiting.waitlist_entries.get().status == WaitlistStatus.BOOKED

    # 5. On the day list, Wendy arrives and is checked in: the encounter opens.
    # (The day's list view: each step swaps the row in place with htmx, the page stays where it is.)
    page.goto(reverse("scheduling:day_list") + f"?date={monday:%Y-%m-%d}&view=list")
    page.evaluate("window.__listMarker = 1")
    row = page.locator("[data-testid=day-list] tbody tr", has_text=waiting.display_name)
    row.locator("button:has-text('Arrived')").click()
    expect(row.locator(".status")).to_have_text("Arrived")
    assert f"date={monday:%Y-%m-%d}" in page.url and page.evaluate("window.__listMarker") == 1
    row.locator("button:has-text('Checked in')").click()
    expect(row.locator(".status")).to_have_text("Checked in")
    assert page.evaluate("window.__listMarker") == 1
    screenshot(page, "front_desk_day_list")
    enc = Encounter.objects.get(appointment=booked)
    assert enc.patient_id == waiting.pk and enc.provider_id == clinician.pk
    row.locator("a").first.click()
    expect(page.locator("[data-testid=encounter-opened]")).to_have_text("Opened")

    # 6. The week: both providers, colours per appointment type.
    page.goto(
        reverse("scheduling:week")
        + f"?date={monday:%Y-%m-%d}&provider={clinician.pk}&provider={colleague.pk}"
    )
    expect(page.locator(".cal-week")).to_contain_text(waiting.display_name)
    screenshot(page, "week_calendar")


def test_front_desk_time_off_override_and_waitlist_after_moving_a_series(
    transactional_db, page, front_desk, clinician, colleague, department, patient, clinic, celery_worker_proc
):
    """Time off entered on the desk's page is never bookable; outside the hours needs an explicit override with a
    reason; moving "this and following" frees slots that the worker offers to the waitlist; the desk declines the
    offer for one patient and removes another from the list."""
    monday = _next_monday()
    waiting = make_patient(given_name="Wendy", family_name="Wait", ssn="222-33-4444", department=department)
    browser_login(page, front_desk)

    # 1. Dr Able is away all of Wednesday.
    wednesday = monday + timedelta(days=2)
    page.goto(reverse("scheduling:time_off"))
    page.select_option("#id_provider", label="Alice Able")
    page.select_option("#id_kind", "time_off")
    page.fill("#id_start", _local(wednesday, 0))
    page.fill("#id_end", _local(wednesday, 23, 59))
    page.fill("#id_reason", "Conference")
    page.click("[data-testid=time-off-form] button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Time off recorded.")
    expect(page.locator("[data-testid=time-off]")).to_contain_text("Conference")

    def book(start, *, override=""):
        page.goto(reverse("scheduling:appointment_book", args=[patient.pk]))
        page.select_option("#id_provider", label="Alice Able")
        page.select_option("#id_appointment_type", label="Follow-up (20 min)")
        page.fill("#id_start", start)
        if override:
            page.check("#id_override")
            page.fill("#id_override_reason", override)
        page.click("main button:has-text('Book')")

    book(_local(wednesday, 10), override="Patient insists")
    expect(page.locator("[data-testid=form-error]")).to_contain_text("on time off")
    expect(page.locator("[data-testid=form-error]")).to_contain_text("Conference")
    # 2. 18:00 is after hours (08:00-17:00): refused, then booked with the override and its reason.
    book(_local(monday, 18))
    expect(page.locator("[data-testid=form-error]")).to_contain_text("outside Alice Able's working hours")
    book(_local(monday, 18), override="Works late shifts; agreed with Dr Able")
    expect(page.locator(".messages")).to_contain_text("Appointment booked.")
    late = Appointment.objects.get(patient=patient)
    assert late.override_reason == "Works late shifts; agreed with Dr Able"

    # 3. A weekly series on Tuesdays 09:00; Wendy waits for a Tuesday in week 2 or 3.
    tuesday = monday + timedelta(days=1)
    series = sched_series.series_create(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=clinic["follow_up"],
        dtstart=_at(tuesday, 9),
        rrule="FREQ=WEEKLY;COUNT=4",
    )
    sched_waitlist.waitlist_add(
        actor=front_desk,
        patient_id=waiting.pk,
        provider=clinician,
        appointment_type=clinic["follow_up"],
        earliest=tuesday + timedelta(weeks=1),
        latest=tuesday + timedelta(weeks=2),
    )
    rows = list(series.appointments.order_by("start"))
    page.goto(reverse("scheduling:appointment_detail", args=[rows[1].pk]))
    page.fill("#move_start", _local(tuesday + timedelta(weeks=1), 11))
    page.select_option("#move_scope", "following")
    page.click("main button:has-text('Move')")
    expect(page.locator(".messages")).to_contain_text("3 appointments moved.")

    def offer_shown():
        page.goto(reverse("scheduling:waitlist"))
        return page.locator("[data-testid=offer]").count() > 0

    wait_until(offer_shown, timeout=30, interval=1)
    week2 = tuesday + timedelta(weeks=1)
    expect(page.locator("[data-testid=offer]")).to_contain_text(f"{week2:%a} {week2.day} {week2:%b} 09:00")
    # 4. Wendy declines that one (htmx: the table refreshes in place); then she is taken off the list.
    page.click("[data-testid=waitlist-row] button:has-text('Decline offer')")
    expect(page.locator("#waitlist-table .messages")).to_contain_text("Offer declined")
    entry = waiting.waitlist_entries.get()
    assert entry.status in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)  # the next freed slot may follow
    page.on("dialog", lambda d: d.accept())
    page.click("[data-testid=waitlist-row] button:has-text('Remove')")
    expect(page.locator("#waitlist-table")).to_contain_text("Nobody is waiting.")
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.REMOVED
    screenshot(page, "waitlist_after_remove")
