"""Ordering a test in a real browser, with a real Celery worker, the HL7 listener and the lab simulator on the
wire: the order with its ask-at-order-entry questions, the requisition PDF, the lab's answer, the critical result
first in the results to review, the sign-off, and the trend on the chart."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import browser_login, screenshot, wait_until
from tests.factories import PASSWORD
from tests.orders import conftest as orders_fixtures

catalogue = orders_fixtures.catalogue
icd10 = orders_fixtures.icd10
lab = orders_fixtures.lab
listener = orders_fixtures.listener
lab_sim = orders_fixtures.lab_sim

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _history(patient, catalogue):
    """Two earlier glucose values (a trend needs more than one point) and an abnormal result already waiting."""
    from encounters.models import Observation

    for days, value in ((200, 110), (100, 126)):
        Observation.objects.create(
            patient=patient,
            loinc_code="2339-0",
            display="Glucose",
            value_quantity=value,
            value_unit="mg/dL",
            reference_low=70,
            reference_high=99,
            effective=timezone.now() - timedelta(days=days),
        )


def test_order_requisition_result_critical_first_sign_off_trend(
    transactional_db, page, clinician, patient, catalogue, icd10, lab, lab_sim, celery_worker_proc
):
    from encounters.models import Problem
    from orders.models import Order, ResultReport

    Problem.objects.create(
        patient=patient, code_id="E11.9", description="Type 2 diabetes mellitus without complications"
    )
    _history(patient, catalogue)
    lab_sim.mode(critical_for=[patient.family_name], abnormal_rate=0.0, prelim_delay=0.2, final_delay=0.6)
    browser_login(page, clinician)

    # From the chart: order a BMP; the lab's question must be answered.
    page.goto(reverse("patients:detail", args=[patient.pk]))
    page.click("[data-testid=order-test-link]")
    page.fill("[data-testid=test-search]", "metabolic")
    page.keyboard.press("Enter")
    page.click("text=Basic metabolic panel (BMP)")
    expect(page.locator("[data-testid=chosen-test]")).to_have_text("Basic metabolic panel (BMP)")
    page.check("input[name=diagnoses][value='E11.9']")
    page.select_option("#priority", "stat")
    page.fill("#password", PASSWORD)
    page.click("[data-testid=sign-order]")
    expect(page.locator("[data-testid=form-errors]")).to_contain_text("Is the patient fasting?")
    page.select_option("#q_FAST", "Yes")
    page.fill("#password", PASSWORD)
    page.click("[data-testid=sign-order]")
    page.wait_for_url("**/orders/*/")
    order = Order.objects.get(patient=patient)
    expect(page.locator("[data-testid=placer-number]")).to_have_text(order.placer_number)
    assert order.answers == [{"code": "FAST", "text": "Is the patient fasting?", "answer": "Yes"}]

    # The requisition opens as a PDF carrying the order number.
    resp = page.request.get(reverse("orders:requisition", args=[order.pk]))
    assert resp.status == 200 and resp.headers["content-type"] == "application/pdf"
    assert resp.body().startswith(b"%PDF")
    link = page.locator("[data-testid=requisition]")
    assert link.get_attribute("href") == reverse("orders:requisition", args=[order.pk])

    # The lab receives it once and answers: preliminary, then final with a critical glucose.
    wait_until(lambda: ResultReport.objects.filter(order=order, status="final").exists(), timeout=60)
    assert lab_sim.stats()["placer_numbers"] == [order.placer_number]
    # An older, merely abnormal result waits too: the critical one comes first.
    ResultReport.objects.filter(order=order, status="final").update(
        filed_at=timezone.now() - timedelta(hours=1)
    )
    older = ResultReport.objects.create(
        patient=patient,
        ordering_clinician=clinician,
        loinc="4548-4",
        test_name="Hemoglobin A1c",
        status="final",
        is_abnormal=True,
        observed_at=timezone.now(),
    )
    page.click("nav >> text=Results")
    rows = page.locator("[data-testid=review-row]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Critical")
    expect(rows.nth(0)).to_contain_text("Basic metabolic panel")
    expect(rows.nth(1)).to_contain_text(older.test_name)
    screenshot(page, "orders-review")

    rows.nth(0).locator("a").click()
    expect(page.locator("[data-testid=critical-banner]")).to_be_visible()
    page.fill("#comment", "Called the patient; repeat fasting tomorrow.")
    page.click("[data-testid=sign-off]")
    expect(page.locator("[data-testid=review-row]")).to_have_count(1)
    final = ResultReport.objects.get(order=order, status="final")
    assert final.reviewed_by == clinician and "repeat fasting" in final.review_comment

    # The chart's results: the glucose trend drawn (uPlot, as the vitals) with its unit, from the results page.
    page.goto(reverse("encounters:results", args=[patient.pk]))
    glucose = page.get_by_test_id("result-group").filter(has_text="LOINC 2339-0")
    glucose.get_by_test_id("result-trend-link").click()
    expect(page.locator("#vitals-chart canvas")).to_have_count(1)
    expect(page.get_by_test_id("trend-table")).to_contain_text("mg/dL")
    assert page.get_by_test_id("trend-table").locator("tbody tr").count() >= 3
    screenshot(page, "orders-trend")
