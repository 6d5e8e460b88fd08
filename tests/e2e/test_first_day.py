"""Issue 17, a clinic's first day in Chromium. This part (items 2 and 4): vitals typed in \u00b0F and lb are shown in
\u00b0F and lb on the encounter page and the chart; the trend is a drawn chart whose points read on hover; the
visit is finished with a diagnosis once its note is signed."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from encounters import findings, notes
from encounters.models import Encounter, EncounterStatus, Icd10Code, NoteTemplate, VitalSigns
from tests.conftest import browser_login, screenshot

pytestmark = pytest.mark.browser

US = {"temperature": "[degF]", "weight": "[lb_av]", "height": "[in_i]"}


@pytest.fixture
def visit(db, clinician, patient):
    Icd10Code.objects.get_or_create(code="I10", defaults={"description": "Essential (primary) hypertension"})
    findings.problem_add(actor=clinician, patient_id=patient.pk, code="I10")
    NoteTemplate.objects.create(
        name="Office visit", encounter_type="office", subjective="Chief complaint:", plan="Plan:"
    )
    now = timezone.now()
    for i, (s, d, lb, f) in enumerate(
        [(152, 96, "182.6", "98.4"), (141, 90, "179.0", "98.9"), (134, 86, "176.2", "98.2")]
    ):
        findings.vitals_record(
            actor=clinician,
            patient_id=patient.pk,
            values={
                "systolic": s,
                "diastolic": d,
                "weight": Decimal(lb),
                "temperature": Decimal(f),
                "height": 68,
            },
            units=US,
            taken_at=now - timedelta(days=120 - 45 * i),
        )
    return notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Blood pressure follow-up")


def _hover_reads(page, unit: str) -> str:
    """Move the pointer across the chart until the legend reads a value in `unit`; return that text."""
    over = page.locator("#vitals-chart .u-over")
    box = over.bounding_box()
    for k in range(1, 40):
        page.mouse.move(box["x"] + box["width"] * k / 40, box["y"] + box["height"] / 2)
        values = page.locator("#vitals-chart .u-legend .u-value").all_inner_texts()
        hit = [v for v in values if v.endswith(unit) and re.search(r"\d", v)]
        if hit:
            return hit[0]
    raise AssertionError(f"no {unit} value read on hover: {values}")


def test_vitals_in_us_units_chart_and_finish_the_visit(page, clinician, patient, visit):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: d.accept())
    browser_login(page, clinician)
    page.goto(reverse("encounters:encounter_detail", args=[visit.pk]))
    form = page.get_by_test_id("vitals-form")
    expect(form.get_by_label("Temp (\u00b0F)")).to_be_visible()
    form.get_by_label("Systolic (mmHg)").fill("128")
    form.get_by_label("Diastolic (mmHg)").fill("82")
    form.get_by_label("Temp (\u00b0F)").fill("98.6")
    form.get_by_label("Weight (lb)").fill("170.4")
    form.get_by_label("Height (in)").fill("68")
    form.get_by_role("button", name="Record vitals").click()
    expect(page.locator(".vitals-table").first).to_contain_text("98.6 \u00b0F")
    expect(page.locator(".vitals-table").first).to_contain_text("170.4 lb")
    vs = VitalSigns.objects.get(encounter=visit)
    assert vs.temperature == Decimal("37.000") and vs.weight_entered == Decimal("170.4")

    # The chart summary reads \u00b0F and lb, never a UCUM code.
    page.goto(reverse("patients:detail", args=[patient.pk]))
    body = page.inner_text("main")
    assert "98.6 \u00b0F" in body and "170.4 lb" in body and "[degF]" not in body and "[lb_av]" not in body
    screenshot(page, "chart_summary")

    # The trend: a drawn chart (uPlot canvas) of blood pressure, two series, read by hovering.
    page.goto(reverse("encounters:vitals_trend", args=[patient.pk]))
    expect(page.locator("#vitals-chart canvas")).to_have_count(1)
    assert page.locator("#vitals-chart .u-legend .u-series").count() == 3  # time, systolic, diastolic
    assert _hover_reads(page, "mmHg")
    screenshot(page, "vitals_chart_bp")
    page.goto(reverse("encounters:vitals_trend", args=[patient.pk]) + "?field=weight")
    expect(page.locator("#vitals-chart canvas")).to_have_count(1)
    assert re.fullmatch(r"\d+(\.\d)? lb", _hover_reads(page, "lb"))
    rows = page.get_by_test_id("trend-table").locator("tbody tr").all_inner_texts()
    assert "182.6" in rows[0] and "170.4" in rows[-1]  # oldest first, as the chart reads
    screenshot(page, "vitals_chart_weight")

    # Close the visit: the note from the visit type's template, signed; a diagnosis from the problem list.
    page.goto(reverse("encounters:encounter_detail", args=[visit.pk]))
    finish = page.get_by_test_id("finish")
    expect(finish.get_by_test_id("finish-problems")).to_contain_text("Write and sign the visit note")
    expect(page.get_by_test_id("note-template").locator("option").first).to_have_text(
        re.compile("Office visit")
    )
    page.get_by_role("button", name="New SOAP note").click()
    note_form = page.get_by_test_id("note-form")
    expect(note_form.locator("textarea").first).to_have_value("Chief complaint:")
    note_form.locator("textarea").last.fill("Plan: continue lisinopril; recheck in 3 months.")
    note_form.get_by_role("button", name="Sign").click()
    expect(page.get_by_test_id("signed-note")).to_be_visible()
    page.get_by_test_id("finish-visit").click()
    expect(page.locator("body")).to_contain_text("cannot be finished yet")
    expect(page.locator("body")).to_contain_text("Add at least one diagnosis")
    page.get_by_test_id("diagnoses").get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_test_id("diagnosis")).to_contain_text("I10")
    expect(page.get_by_test_id("diagnosis")).to_contain_text("Primary")
    page.get_by_test_id("finish-visit").click()
    expect(page.locator("body")).to_contain_text("Visit finished.")
    visit.refresh_from_db()
    assert visit.status == EncounterStatus.FINISHED
    assert list(visit.diagnoses.values_list("code_id", "rank")) == [("I10", 1)]
    screenshot(page, "visit_finished")
    assert not errors, errors
    assert Encounter.objects.filter(pk=visit.pk, status="finished").exists()
