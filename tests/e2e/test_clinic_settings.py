"""Issue 17 item 9 in Chromium: the practice admin, signed in with a second factor, reaches the clinic settings from
the home page, edits a provider's working hours on the weekly grid (a mistake is named and nothing typed is lost),
adds an appointment type and stops offering another, and switches the clinic to \u00b0C and kg; the front desk's
booking form no longer offers the type, and the clinician's vitals form follows the units. No page scrolls
sideways at 1366 px."""

from datetime import time
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from encounters import notes
from scheduling.models import AppointmentType, Location, WorkingHours
from tests.conftest import browser_login
from tests.scheduling.factories import AppointmentTypeFactory, LocationFactory, RoomFactory, working_week

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "shots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px at 1366 px"


@pytest.fixture
def clinic(db, clinician):
    main = LocationFactory(name="Main clinic")
    LocationFactory(name="Eastside office", address="40 East Ave, Springfield")
    for i in (1, 2):
        RoomFactory(location=main, name=f"Room {i}")
    working_week(clinician, main)
    AppointmentTypeFactory(name="Follow-up")
    AppointmentTypeFactory(name="Video visit", colour="purple", modality="video")
    return main


def _context_page(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    return pg


def test_practice_admin_sets_up_the_clinic(
    page, browser, live_server, admin_user, clinician, front_desk, patient, clinic
):
    page.on("dialog", lambda d: d.accept())
    browser_login(page, admin_user)
    page.goto("/")
    panel = page.get_by_test_id("clinic-settings-panel")
    expect(panel).to_be_visible()
    shot(page, "01-admin-home")
    panel.get_by_role("link", name="Working hours").click()
    expect(page.get_by_test_id("hours-summary")).to_contain_text("08:00\u201317:00")
    shot(page, "02-hours-summary")
    page.get_by_role("link", name="Edit hours").first.click()

    # Wednesday: a morning at the main clinic, an afternoon at the eastside office. First with a mistake.
    grid = page.get_by_test_id("hours-grid")
    grid.get_by_label("Wednesday, block 1: end").fill("12:00")
    grid.get_by_label("Wednesday, block 2: start").fill("13:00")
    grid.get_by_label("Wednesday, block 2: end").fill("11:30")
    grid.get_by_label("Wednesday, block 2: location").select_option(label="Eastside office")
    grid.get_by_role("button", name="Save working hours").click()
    day = page.get_by_test_id("day-2")
    expect(page.get_by_text("the end (11:30) must be after the start (13:00)")).to_be_visible()
    expect(day.get_by_label("Wednesday, block 2: start")).to_have_value("13:00")
    expect(day.get_by_label("Wednesday, block 2: location")).to_have_value(
        str(Location.objects.get(name="Eastside office").pk)
    )
    shot(page, "03-hours-grid-refused")
    page.get_by_test_id("hours-grid").get_by_label("Wednesday, block 2: end").fill("17:00")
    page.get_by_role("button", name="Save working hours").click()
    expect(page.get_by_text("saved, in effect from today")).to_be_visible()
    shot(page, "04-hours-grid-saved")
    wed = WorkingHours.objects.filter(provider=clinician, weekday=2, effective_to__isnull=True)
    assert sorted((w.start_time, w.end_time, w.location.name) for w in wed) == [
        (time(8), time(12), "Main clinic"),
        (time(13), time(17), "Eastside office"),
    ]

    # Appointment types: add one, stop offering another.
    page.get_by_role("navigation", name="Clinic settings").get_by_role(
        "link", name="Appointment types"
    ).click()
    page.get_by_role("link", name="Add an appointment type").click()
    form = page.get_by_test_id("type-form")
    form.get_by_label("Name").fill("Procedure")
    form.get_by_label("Length (minutes)").fill("3")
    form.get_by_label("Colour on the calendar").select_option(label="Amber")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("An appointment lasts between 5 minutes and 8 hours")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Procedure")
    page.get_by_label("Length (minutes)").fill("60")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Procedure saved.")).to_be_visible()
    page.get_by_test_id("type-row").filter(has_text="Video visit").get_by_role(
        "button", name="Stop offering"
    ).click()
    expect(page.get_by_text("Video visit is no longer offered when booking.")).to_be_visible()
    shot(page, "05-types")
    assert not AppointmentType.objects.get(name="Video visit").offered

    # Units: \u00b0C and kg.
    page.get_by_role("navigation", name="Clinic settings").get_by_role(
        "link", name="Units for vital signs"
    ).click()
    page.get_by_label("\u00b0C (Celsius)").check()
    page.get_by_label("kg (kilograms)").check()
    shot(page, "06-units")
    page.get_by_role("button", name="Save units").click()
    expect(page.get_by_text("Units saved.")).to_be_visible()
    page.get_by_role("navigation", name="Clinic settings").get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("units-summary")).to_contain_text("\u00b0C (Celsius)")
    shot(page, "07-overview")
    for name, url in [
        ("08-locations", reverse("clinic:locations")),
        ("09-location", reverse("clinic:location", args=[clinic.pk])),
        ("10-templates", reverse("clinic:templates")),
        ("11-template-new", reverse("clinic:template_new")),
    ]:
        page.goto(url)
        shot(page, name)
    # The Django admin's sections read as words.
    page.goto(reverse("admin:index"))
    expect(page.get_by_role("link", name="Authenticator apps").first).to_be_visible()
    for code in ("Axes", "Otp_Totp", "OTP_TOTP", "Oauth2_Provider"):
        expect(page.get_by_text(code, exact=True)).to_have_count(0)
    page.screenshot(path=str(SHOTS / "13-admin-index.png"), full_page=True)

    # The front desk books: the type no longer offered is not there, the new one is.
    desk = _context_page(browser, live_server)
    browser_login(desk, front_desk)
    desk.goto(reverse("scheduling:appointment_book", args=[patient.pk]))
    options = desk.locator("#id_appointment_type option").all_inner_texts()
    assert any(o.startswith("Procedure") for o in options) and not any(
        o.startswith("Video visit") for o in options
    )
    desk.context.close()

    # The clinician's vitals form reads in \u00b0C and kg.
    enc = notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Check-up")
    doc = _context_page(browser, live_server)
    browser_login(doc, clinician)
    doc.goto(reverse("encounters:encounter_detail", args=[enc.pk]))
    vitals = doc.get_by_test_id("vitals-form")
    expect(vitals.get_by_label("Temp (\u00b0C)")).to_be_visible()
    expect(vitals.get_by_label("Weight (kg)")).to_be_visible()
    shot(doc, "12-vitals-form-metric")
    doc.context.close()
