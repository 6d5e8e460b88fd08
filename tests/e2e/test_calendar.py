"""The calendar in a real browser: booking from the patient page by clicking a free slot, the booking on the day
grid, check-in without leaving the page (htmx swaps the block; the page's scroll and a marker variable survive),
the provider filter, a free slot on the week clicked to book another patient; no console or CSP error, nothing
wider than a 1366 px screen."""

import random
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from encounters.models import Encounter
from scheduling import demo as schedule_demo
from scheduling import services as sched_services
from scheduling.models import Appointment, AppointmentStatus
from scheduling.recurrence import aware
from tests.conftest import browser_login
from tests.e2e.test_scheduling import clinic  # noqa: F401 (fixture)
from tests.factories import make_patient

pytestmark = [pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "shots"
NAMES = [
    ("John", "Smith"),
    ("Aiko", "Tanaka"),
    ("Peter", "Olsen"),
    ("Rosa", "Diaz"),
    ("Grace", "Kim"),
    ("Omar", "Haddad"),
    ("Lena", "Fischer"),
    ("Marcus", "Brown"),
    ("Priya", "Patel"),
    ("Tom", "Nguyen"),
]
FLOW = [
    [AppointmentStatus.CHECKED_IN, AppointmentStatus.WITH_PROVIDER, AppointmentStatus.DONE],
    [AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_ROOM],
    [AppointmentStatus.ARRIVED],
    [],
    [],
]


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _full_day(*, front_desk, providers, department, types, day) -> None:
    """Both providers' day about two-thirds full (the demo's day plan), patients in every flow state."""
    rng = random.Random(7)
    people = [
        make_patient(given_name=g, family_name=f, ssn=f"111-22-{3100 + i}", department=department)
        for i, (g, f) in enumerate(NAMES)
    ]
    by_name = {"Follow-up": types["follow_up"], "New patient": types["new"], "Video visit": types["video"]}
    plan_types = {
        "Follow-up": by_name["Follow-up"],
        "New patient": by_name["New patient"],
        "Annual wellness": by_name["New patient"],
        "Video visit": by_name["Video visit"],
        "Urgent same-day": by_name["Follow-up"],
    }
    n = 0
    for provider in providers:
        # 09:00-09:40 stays free for the test's own booking.
        for order, (slot, atype) in enumerate(schedule_demo.day_plan(rng, plan_types, {3, 4})):
            a = sched_services.appointment_book(
                actor=front_desk,
                patient_id=people[n % len(people)].pk,
                provider=provider,
                appointment_type=atype,
                start=schedule_demo.slot_start(day, slot),
            )
            for status in FLOW[order] if order < len(FLOW) else []:
                sched_services.appointment_advance(actor=front_desk, appointment_id=a.pk, status=status)
            n += 1


def _no_horizontal_overflow(page) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the window"


def test_book_from_the_patient_page_see_it_on_the_day_grid_and_check_in_in_place(
    transactional_db,
    page,
    front_desk,
    clinician,
    colleague,
    department,
    patient,
    clinic,  # noqa: F811
):
    today = timezone.localdate()
    monday = today + timedelta(days=7 - today.weekday())
    _full_day(
        front_desk=front_desk,
        providers=[clinician, colleague],
        department=department,
        types=clinic,
        day=monday,
    )
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    browser_login(page, front_desk)

    # 1. From the patient page: Book appointment; provider, type and day show the free slots at once.
    page.goto(reverse("patients:detail", args=[patient.pk]))
    page.click("[data-testid=book-appointment]")
    expect(page.locator("[data-testid=slots]")).to_contain_text("Choose the provider and the type")
    page.select_option("#id_provider", label="Alice Able")
    page.select_option("#id_appointment_type", label="Follow-up (20 min)")
    expect(page.locator("[data-testid=slot]").first).to_be_visible()  # no failed attempt needed
    page.fill("#id_start", f"{monday:%Y-%m-%d}T08:00")
    page.locator("#id_start").dispatch_event("change")
    day_label = f"{monday:%a} {monday.day} {monday:%b}"
    expect(page.locator(".slot-day").first).to_have_text(day_label)
    page.locator("[data-testid=slot]", has_text="09:00").first.click()
    expect(page.locator("#id_start")).to_have_value(f"{monday:%Y-%m-%d}T09:00")
    _no_horizontal_overflow(page)
    _shot(page, "booking_form")
    page.click("main button:has-text('Book')")
    expect(page.locator(".messages")).to_contain_text("Appointment booked.")
    appt = Appointment.objects.get(patient=patient)
    assert appt.start == aware(datetime.combine(monday, time(9))) and appt.provider_id == clinician.pk

    # 2. The day grid: the booking is a block in Dr Able's column.
    page.goto(reverse("scheduling:day_list") + f"?date={monday:%Y-%m-%d}")
    block = page.locator(f"#appt-{appt.pk}")
    expect(block).to_contain_text(patient.display_name)
    expect(block.locator("[data-testid=cal-status]")).to_have_text("Scheduled")
    heads = page.locator("[data-testid=cal-head]")
    expect(heads).to_have_count(2)
    # The block sits in the first column (Dr Able) at 09:00: its top lines up with the 09:00 label (which is
    # drawn centred on its hour line).
    box, label = block.bounding_box(), page.locator(".cal-time", has_text="09:00").bounding_box()
    head = heads.first.bounding_box()
    assert head["x"] <= box["x"] < head["x"] + head["width"]
    assert abs(box["y"] - label["y"]) < 14
    _no_horizontal_overflow(page)
    _shot(page, "day_calendar")

    # 3. Check in without leaving the page: the block changes in place, the scroll and a marker survive.
    page.evaluate("window.__calendarMarker = 'kept'")
    scroller = page.locator("#cal-scroll")
    scroller.evaluate("el => { el.scrollTop = 120; }")
    block.locator("button:has-text('Checked in')").click()
    expect(block.locator("[data-testid=cal-status]")).to_have_text("Checked in")
    expect(block.locator("button:has-text('In room')")).to_be_visible()
    assert page.evaluate("window.__calendarMarker") == "kept"  # no navigation
    assert scroller.evaluate("el => el.scrollTop") == 120
    assert Encounter.objects.filter(appointment=appt).exists()
    block.locator("button:has-text('In room')").click()
    expect(block.locator("[data-testid=cal-status]")).to_have_text("In room")
    assert page.evaluate("window.__calendarMarker") == "kept"
    _shot(page, "day_calendar_after_check_in")

    # 4. The provider filter: Dr Baker only; the refresh asks for the same filter.
    page.check(f"[data-testid=cal-filter] input[value='{colleague.pk}']")
    page.click("[data-testid=cal-filter] button:has-text('Show')")
    expect(page.locator("[data-testid=cal-head]")).to_have_count(1)
    expect(page.locator("[data-testid=cal-head]")).to_contain_text("Bob Baker")
    expect(page.locator(f"#appt-{appt.pk}")).to_have_count(0)
    assert f"provider={colleague.pk}" in page.locator("#cal-refresh").get_attribute("hx-get")
    # The refresh (every minute) swaps the grid in place and keeps the filter and the scroll.
    page.evaluate("window.__calendarMarker = 'refresh'")
    scroller.evaluate("el => { el.scrollTop = 200; }")
    with page.expect_response(
        lambda r: "/schedule/" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.evaluate(
            "htmx.ajax('GET', document.getElementById('cal-refresh').getAttribute('hx-get'),"
            " {target: '#cal-refresh', swap: 'outerHTML'})"
        )
    expect(page.locator("[data-testid=cal-head]")).to_have_count(1)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__calendarMarker") == "refresh"
    assert scroller.evaluate("el => el.scrollTop") == 200

    # 5. The week of Dr Able: a free slot clicked books another patient, found by name.
    page.goto(reverse("scheduling:week") + f"?date={monday:%Y-%m-%d}&provider={clinician.pk}")
    expect(page.locator("[data-testid=cal-head]")).to_have_count(5)
    expect(page.locator(f"#appt-{appt.pk}")).to_contain_text(patient.display_name)
    _no_horizontal_overflow(page)
    _shot(page, "week_calendar")
    wednesday = monday + timedelta(days=2)
    page.locator(f"a.cal-free[href*='start={wednesday:%Y-%m-%d}T10%3A40']").click()
    expect(page.locator("h1")).to_contain_text("10:40")
    other = make_patient(given_name="Wendy", family_name="Walker", ssn="222-33-5555", department=department)
    page.fill("#slot-q", "Walker")
    page.click("[data-testid=slot-patient-search] button:has-text('Find')")
    page.click("[data-testid=slot-patients] a:has-text('Book for this patient')")
    expect(page.locator("#id_start")).to_have_value(f"{wednesday:%Y-%m-%d}T10:40")
    page.click("main button:has-text('Book')")
    expect(page.locator(".messages")).to_contain_text("Appointment booked.")
    assert Appointment.objects.get(patient=other).start == aware(datetime.combine(wednesday, time(10, 40)))

    # 6. Several providers in the week: a column per provider each day; the grid scrolls inside its box.
    url = (
        reverse("scheduling:week")
        + f"?date={monday:%Y-%m-%d}&provider={clinician.pk}&provider={colleague.pk}"
    )
    page.goto(url)
    expect(page.locator("[data-testid=cal-head]")).to_have_count(10)
    _no_horizontal_overflow(page)
    _shot(page, "week_calendar_two_providers")
    assert not problems, "\n".join(problems)
