"""Prescribing follows the product, in Chromium (issue 17 item 1): the ibuprofen search lists the plain generic
oral tablet first with each product's dose form; picking it fills tablet / by mouth / Tablet; the issue's
prescription (an injection with tablet directions) cannot be written, and a draft that contradicts its product
cannot be signed."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from prescriptions import services
from prescriptions.models import Prescription
from tests.conftest import screenshot
from tests.e2e.test_prescribe import _login
from tests.prescriptions import conftest as rx_fixtures
from tests.prescriptions.conftest import give_address, rx_data

catalog = rx_fixtures.catalog
pharmacies = rx_fixtures.pharmacies
simulator_proc = rx_fixtures.simulator_proc

pytestmark = [pytest.mark.browser]


def _open_form(page, patient):
    page.goto(reverse("patients:detail", args=[patient.pk]))
    page.click("[data-testid=prescribe-link]")
    page.fill("#med-q", "ibuprofen")
    page.wait_for_selector("[data-testid=med-197805]")


def test_ibuprofen_tablet_first_with_defaults_and_injection_mismatch_refused(
    transactional_db, page, clinician, patient, catalog, pharmacies
):
    give_address(patient)
    _login(page, clinician)
    _open_form(page, patient)
    first = page.locator("#medication-results li").first
    expect(first).to_contain_text("Ibuprofen 400 MG Oral Tablet")
    expect(first.locator("[data-testid=dose-form]")).to_have_text("Oral Tablet")
    expect(
        page.locator("#medication-results li", has_text="Injection").locator("[data-testid=dose-form]")
    ).to_have_text("Injection")
    page.locator("[data-testid=med-197805]").check()
    expect(page.locator("#id_dose_unit")).to_have_value("tablet")
    expect(page.locator("#id_route")).to_have_value("PO")
    expect(page.locator("#id_quantity_unit")).to_have_value("C48542")
    expect(page.locator("[data-testid=med-chosen]")).to_have_text("Ibuprofen 400 MG Oral Tablet")
    screenshot(page, "rx_safety_ibuprofen_tablet_defaults")

    # The prescription: the injection, with tablet directions.
    page.locator("[data-testid=med-637197]").check()
    expect(page.locator("#id_dose_unit")).to_have_value("mL")
    expect(page.locator("#id_route")).to_have_value("IV")
    expect(page.locator("#id_quantity_unit")).to_have_value("C28254")
    page.select_option("#id_dose_unit", "tablet")
    page.select_option("#id_route", "PO")
    page.select_option("#id_quantity_unit", "C48542")
    page.fill("#id_quantity", "30")
    page.click("[data-testid=review-button]")
    page.wait_for_load_state()
    assert "/sign/" not in page.url
    errors = page.locator(".error")
    expect(errors.filter(has_text="is given into a vein")).to_have_count(1)
    expect(errors.filter(has_text="not tablet")).to_have_count(1)
    expect(errors.filter(has_text="not by tablet")).to_have_count(1)
    screenshot(page, "rx_safety_injection_refused")
    assert not Prescription.objects.exists()


def test_a_draft_contradicting_its_product_cannot_be_signed(
    transactional_db, page, clinician, patient, catalog, pharmacies
):
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog["637197"], pharmacy=pharmacies["fax"])
    )
    Prescription.objects.filter(pk=rx.pk).update(quantity_unit="C48542")  # an old draft, dispensed as tablets
    _login(page, clinician)
    page.goto(reverse("prescriptions:sign", args=[rx.pk]))
    expect(page.locator("[data-testid=sig-mismatch]")).to_contain_text("cannot be signed")
    expect(page.locator("[data-testid=sign-button]")).to_be_disabled()
    screenshot(page, "rx_safety_mismatch_sign_page")
    rx.refresh_from_db()
    assert rx.status == "draft"
