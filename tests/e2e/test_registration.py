"""The registration-to-audit story in a real browser: front desk registers, a near-duplicate is flagged, the care
team opens the chart, an outsider gets 404, break the glass works and the privacy officer sees it in the report."""

import pytest

from tests.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def new_page(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    return pg


def fill_registration(page, *, given, family, dob, phone):
    page.goto("/patients/register/")
    page.fill("#id_given_name", given)
    page.fill("#id_family_name", family)
    page.fill("#id_birth_date", dob)
    page.select_option("#id_sex_at_birth", "F")
    page.fill("#id_phone_mobile", phone)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def test_register_duplicate_chart_outsider_break_glass_report(
    page, browser, live_server, front_desk, clinician, colleague, privacy, patient, other_patient
):
    # Front desk registers a new patient.
    browser_login(page, front_desk)
    fill_registration(page, given="Lena", family="Novak", dob="1988-05-17", phone="555-123-9876")
    page.wait_for_selector("[data-testid=patient-banner]")
    assert "NOVAK, Lena" in page.inner_text("[data-testid=patient-banner]")

    # A near-duplicate of Maria Garcia (same DOB and phone, one letter off) is flagged with score and reasons.
    fill_registration(page, given="Marie", family="Garcia", dob="1970-03-02", phone="555-010-2000")
    dup = page.wait_for_selector("[data-testid=duplicate-candidates]")
    text = dup.inner_text()
    assert patient.mrn in text and "same date of birth" in text and "%" in text
    screenshot(page, "registration-duplicate")

    # The clinician on the care team opens the chart.
    doc = new_page(browser, live_server)
    browser_login(doc, clinician)
    doc.goto(f"/patients/{patient.pk}/")
    assert patient.mrn in doc.inner_text("[data-testid=patient-banner]")
    assert doc.query_selector("[data-testid=btg-banner]") is None

    # An outsider gets 404, and the page says nothing about the patient.
    outsider = new_page(browser, live_server)
    browser_login(outsider, colleague)
    resp = outsider.goto(f"/patients/{other_patient.pk}/")
    assert resp.status == 404
    assert other_patient.mrn not in outsider.content() and "Other" not in outsider.inner_text("main")

    # ... who breaks the glass in an emergency.
    outsider.goto("/patients/emergency-access/")
    outsider.fill("#id_mrn", other_patient.mrn)
    outsider.fill("#id_birth_date", "1955-11-30")
    outsider.fill("#id_reason", "Found unresponsive in the lobby, need allergies")
    outsider.click("main button[type=submit]")
    outsider.wait_for_selector("[data-testid=btg-banner]")
    screenshot(outsider, "break-glass-chart")

    # The privacy officer sees it, with the reason, in the emergency-access report.
    po = new_page(browser, live_server)
    browser_login(po, privacy)
    po.click("nav.mainnav >> text=Audit")
    po.wait_for_selector("h1:has-text('Audit reports')")
    screenshot(po, "audit-landing")
    po.click("text=Review emergency access")
    row = po.wait_for_selector("[data-testid=btg-row]")
    table = po.inner_text("[data-testid=audit-report]")
    assert "Found unresponsive in the lobby, need allergies" in table
    assert other_patient.mrn in table and "dr.bob" in table
    assert row is not None
    screenshot(po, "audit-break-glass-report")

    # And in "who opened this chart" for that patient.
    po.goto("/audit/")
    po.fill("#id_mrn", other_patient.mrn)
    po.click("text=Show accesses")
    po.wait_for_selector("[data-testid=audit-report]")
    assert "dr.bob" in po.inner_text("[data-testid=audit-report]")
    screenshot(po, "audit-patient-report")
    for p in (doc, outsider, po):
        p.context.close()


def test_care_team_is_managed_from_the_chart_and_removal_ends_access(
    page, browser, live_server, clinician, colleague, front_desk, patient
):
    # The treating clinician adds a colleague from the list of staff (named with their role) ...
    browser_login(page, clinician)
    page.goto(f"/patients/{patient.pk}/")
    form = page.locator("[data-testid=care-team-add]")
    options = form.locator("select[name=member] option").all_inner_texts()
    assert "Bob Baker (dr.bob) — Clinician (prescriber)" in options
    form.locator("select[name=member]").select_option(label="Bob Baker (dr.bob) — Clinician (prescriber)")
    form.locator("input[name=care_role]").fill("Covering physician")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "Bob Baker · Covering physician" in page.inner_text("[data-testid=care-team]")
    screenshot(page, "care-team-added")

    # ... who can now open the chart.
    bob = new_page(browser, live_server)
    browser_login(bob, colleague)
    assert bob.goto(f"/patients/{patient.pk}/").status == 200

    # Front desk is not offered clinicians: registering or scheduling never hands out the chart.
    desk = new_page(browser, live_server)
    browser_login(desk, front_desk)
    desk.goto(f"/patients/{patient.pk}/")
    desk_options = " ".join(desk.locator("select[name=member] option").all_inner_texts())
    assert "Clinician" not in desk_options and "Nurse" not in desk_options

    # Removal takes effect at once: the colleague's next request is a 404.
    page.on("dialog", lambda d: d.accept())
    row = page.locator("[data-testid=care-team] li", has_text="Bob Baker")
    row.locator("button", has_text="remove").click()
    page.wait_for_load_state()
    assert "Bob Baker" not in page.inner_text("[data-testid=care-team]")
    assert bob.goto(f"/patients/{patient.pk}/").status == 404
    for p in (bob, desk):
        p.context.close()
