"""Cancelling an order in a real browser: from the chart to the order, the reason, the order shown as cancelled."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.conftest import browser_login, screenshot
from tests.orders import conftest as orders_fixtures
from tests.orders.test_hl7 import sign

catalogue = orders_fixtures.catalogue
icd10 = orders_fixtures.icd10

pytestmark = [pytest.mark.browser]


def test_cancel_an_order_from_the_chart(transactional_db, page, clinician, patient, catalogue, icd10):
    from orders.catalog import lab_ensure

    paper = lab_ensure(name="Paper Lab", facility="PAPER", application="PAPER")
    order = sign(clinician, patient, catalogue["51990-0"], paper)
    browser_login(page, clinician)
    page.goto(reverse("patients:detail", args=[patient.pk]))
    page.click("text=All orders")
    page.click("text=Basic metabolic panel (BMP)")
    page.click("[data-testid=cancel-order] summary")
    page.fill("#reason", "Ordered twice")
    screenshot(page, "order-cancel-form")
    page.click("[data-testid=cancel-submit]")
    expect(page.locator("[data-testid=order-status]")).to_contain_text("Cancelled: Ordered twice")
    expect(page.locator("[data-testid=cancel-order]")).to_have_count(0)
    screenshot(page, "order-cancelled")
    order.refresh_from_db()
    assert order.status == "cancelled"
