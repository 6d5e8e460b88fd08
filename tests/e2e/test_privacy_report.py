"""In Chromium (issue 17, items 5 and 6): a clinician opens a chart; a nurse who opens Prescribe is told plainly
that she may not prescribe; the privacy officer finds the patient by name and date of birth, sees the clinician on
the summary and expands to the raw events. Screenshots: test-artifacts/privacy-summary.png, denied-prescribe.png."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser]


def _page_for(browser, live_server, user):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    browser_login(pg, user)
    return ctx, pg


def test_privacy_officer_finds_who_opened_the_chart(
    transactional_db, browser, live_server, page, clinician, nurse, privacy, patient
):
    # The clinician opens the chart.
    browser_login(page, clinician)
    page.goto(reverse("patients:detail", args=[patient.pk]))
    expect(page.get_by_test_id("patient-banner")).to_contain_text(patient.mrn)

    # A nurse on the care team opens Prescribe: a plain 403 within the site, with the banner and a way on.
    ctx, nurse_page = _page_for(browser, live_server, nurse)
    try:
        resp = nurse_page.goto(reverse("prescriptions:new", args=[patient.pk]))
        assert resp.status == 403
        expect(nurse_page.get_by_test_id("denied-action")).to_have_text(
            "You do not have permission to prescribe."
        )
        expect(nurse_page.get_by_test_id("patient-banner")).to_contain_text(patient.mrn)
        expect(nurse_page.locator("nav.mainnav")).to_be_visible()
        screenshot(nurse_page, "denied-prescribe")
    finally:
        ctx.close()

    # The privacy officer looks the patient up by name and date of birth.
    ctx, officer = _page_for(browser, live_server, privacy)
    try:
        officer.goto(reverse("audit:reports"))
        officer.fill("#id_name", f"{patient.given_name} {patient.family_name}")
        officer.fill("#id_birth_date", patient.birth_date.isoformat())
        officer.get_by_role("button", name="Show accesses").click()
        expect(officer.get_by_test_id("report-subject")).to_contain_text(patient.mrn)
        summary = officer.get_by_test_id("access-summary")
        line = summary.locator("details", has_text="Alice Able")
        expect(line).to_contain_text("Clinician (prescriber)")
        expect(line).to_contain_text("chart summary")
        nurse_line = summary.locator("details", has_text="Nina Nurse")
        expect(nurse_line).to_contain_text("1 refused")
        # Expand the clinician's line: the latest events, then every one of them.
        line.locator("summary").click()
        expect(line.get_by_test_id("person-events")).to_be_visible()
        expect(line.get_by_test_id("person-events")).to_contain_text("chart summary")
        officer.evaluate("window.scrollTo(0, 0)")
        shot = screenshot(officer, "privacy-summary")
        assert shot.exists()
        line.get_by_test_id("person-all-events").click()
        table = officer.get_by_test_id("audit-report")
        expect(table).to_contain_text("dr.alice")
        expect(table).not_to_contain_text("nurse.nina")
        expect(officer.get_by_role("link", name="Back to the summary")).to_be_visible()
    finally:
        ctx.close()
