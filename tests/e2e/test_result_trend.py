"""Issue 17: a laboratory result's trend is a drawn chart (the vendored uPlot, as the vitals trend): time to scale,
value and readable unit on hover, the reference range shaded, the table beside it in the chart's order."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from encounters.models import Observation
from tests.conftest import browser_login, screenshot

pytestmark = pytest.mark.browser


PIXELS_JS = """() => {
  const c = document.querySelector('#vitals-chart canvas');
  const o = document.querySelector('#vitals-chart .u-over').getBoundingClientRect();
  const cr = c.getBoundingClientRect();
  const r = c.width / cr.width;
  const ctx = c.getContext('2d');
  const px = (fx, fy) => Array.from(ctx.getImageData(
    Math.round((o.left - cr.left + o.width * fx) * r), Math.round((o.top - cr.top + o.height * fy) * r), 1, 1).data);
  return {mid: [px(0.13, 0.5), px(0.37, 0.45), px(0.61, 0.55)], top: [px(0.13, 0.02), px(0.37, 0.03), px(0.61, 0.04)]};
}"""


@pytest.fixture
def leukocytes(db, patient):
    now = timezone.now()
    for days, value in ((400, "5.10"), (200, "11.80"), (20, "7.25")):
        Observation.objects.create(
            patient=patient,
            loinc_code="6690-2",
            display="Leukocytes [#/volume] in Blood by Automated count",
            value_quantity=Decimal(value),
            value_unit="10*3/uL",
            reference_low=Decimal("4.5"),
            reference_high=Decimal("11.0"),
            effective=now - timedelta(days=days),
        )
    Observation.objects.create(  # one value only: listed, no trend to draw
        patient=patient,
        loinc_code="718-7",
        display="Hemoglobin [Mass/volume] in Blood",
        value_quantity=Decimal("14.2"),
        value_unit="g/dL",
        effective=now - timedelta(days=20),
    )


def test_result_trend_is_drawn_and_reads_on_hover(page, clinician, patient, leukocytes):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    browser_login(page, clinician)
    page.goto(reverse("encounters:results", args=[patient.pk]))
    groups = page.get_by_test_id("result-group")
    expect(groups).to_have_count(2)
    expect(groups.first).to_contain_text("7.25 10\u00b3/\u00b5L")  # the readable unit, not 10*3/uL
    assert "10*3" not in page.inner_text("main")
    expect(page.get_by_test_id("result-trend-link")).to_have_count(1)  # hemoglobin has one value: no trend
    page.get_by_test_id("result-trend-link").click()

    expect(page.locator("h1")).to_contain_text("Leukocytes")
    chart = page.locator("#vitals-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    # Three points on a time axis: uPlot's x scale spans the first and last result, 380 days apart.
    span_days = page.evaluate(
        "() => { const d = JSON.parse(document.getElementById('vitals-chart-data').textContent);"
        " return (d.t[d.t.length - 1] - d.t[0]) / 86400; }"
    )
    assert round(span_days) == 380
    over = chart.locator(".u-over")
    box = over.bounding_box()
    read = set()
    for k in range(0, 61):
        page.mouse.move(box["x"] + box["width"] * k / 60, box["y"] + box["height"] / 2)
        for v in chart.locator(".u-legend .u-series .u-value").all_inner_texts():
            if re.fullmatch(r"\d+\.\d\d 10\u00b3/\u00b5L", v):
                read.add(v)
    assert read == {"5.10 10\u00b3/\u00b5L", "11.80 10\u00b3/\u00b5L", "7.25 10\u00b3/\u00b5L"}, read
    # The reference band is shaded inside the plot: pixels between 4.5 and 11.0 (the y scale runs ~3.8 to ~12.5)
    # are tinted green, those just under the top (above 11.0) are not.
    pixels = page.evaluate(PIXELS_JS)
    assert all(p[3] > 0 and p[1] > p[0] for p in pixels["mid"]), pixels
    assert any(p[3] == 0 for p in pixels["top"]), pixels
    assert (
        page.locator("figcaption")
        .inner_text()
        .startswith("Shaded: the laboratory's reference range (4.5\u201311")
    )
    # The unit keeps its case in the table's (capitalised) heading: \u00b5L, not \u039cL.
    assert "(10\u00b3/\u00b5L)" in page.get_by_test_id("trend-table").locator("th").nth(1).inner_text()
    rows = page.get_by_test_id("trend-table").locator("tbody tr").all_inner_texts()
    assert ["5.10" in rows[0], "11.80" in rows[1], "7.25" in rows[2]] == [True, True, True]  # oldest first
    assert "H" in rows[1]
    screenshot(page, "result_trend")
    assert not errors, errors
