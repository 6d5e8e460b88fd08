"""Filing laboratory results into the chart (encounters.Observation): called by orders, inside its transaction,
after it has matched the result to a patient it has the right to write to. A corrected value supersedes the
earlier one visibly: the earlier row stays and points at its replacement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .models import Interpretation, Observation, ObservationCategory, ObservationStatus


@dataclass
class ResultValue:
    loinc: str
    display: str
    value_quantity: Decimal | None
    value_text: str
    unit: str
    reference_low: Decimal | None
    reference_high: Decimal | None
    interpretation: str  # HH, LL, H, L, N, A or ""
    status: str  # final, preliminary, corrected


_INTERPRETATIONS = {c.value for c in Interpretation}


def results_file(
    *, patient, report_id, effective: datetime, values: list[ResultValue], supersede_report_ids=()
) -> list[Observation]:
    """Store the values of one report; the current rows of `supersede_report_ids` for the same tests (LOINC)
    point at their new row, and stay. Returns the new rows."""
    rows = [
        Observation(
            patient=patient,
            category=ObservationCategory.LABORATORY,
            loinc_code=v.loinc[:20],
            display=(v.display or v.loinc)[:200],
            value_quantity=v.value_quantity,
            value_unit=v.unit[:40],
            value_text=v.value_text[:1000],
            reference_low=v.reference_low,
            reference_high=v.reference_high,
            interpretation=v.interpretation if v.interpretation in _INTERPRETATIONS else "",
            status=v.status if v.status in ObservationStatus.values else ObservationStatus.FINAL,
            effective=effective,
            report_id=report_id,
        )
        for v in values
    ]
    for row in rows:
        row.full_clean(exclude=["encounter", "superseded_by"])
        row.save(force_insert=True)
    if supersede_report_ids:
        by_code = {r.loinc_code: r for r in rows}
        for old in Observation.objects.filter(
            report_id__in=list(supersede_report_ids),
            superseded_by__isnull=True,
            loinc_code__in=list(by_code),
        ).exclude(pk__in=[r.pk for r in rows]):
            old.superseded_by = by_code[old.loinc_code]
            old.save(update_fields=["superseded_by"])
    return rows


def results_supersede(rows: list[Observation], *, by_report_id) -> None:
    """Rows that arrived after the values replacing them (a late preliminary): each points at the current row of
    `by_report_id` for the same test."""
    current = {
        o.loinc_code: o
        for o in Observation.objects.filter(report_id=by_report_id, superseded_by__isnull=True)
    }
    for row in rows:
        newer = current.get(row.loinc_code)
        if newer is not None:
            row.superseded_by = newer
            row.save(update_fields=["superseded_by"])


# ------------------------------------------------------------------ trend chart
CHART_W, CHART_H, PAD_L, PAD_B, PAD_T, PAD_R = 520, 160, 56, 28, 12, 16


def _scale(v: float, lo: float, hi: float, out_lo: float, out_hi: float) -> float:
    return out_lo if hi == lo else out_lo + (v - lo) * (out_hi - out_lo) / (hi - lo)


def trend_chart(rows) -> dict | None:
    """Points, axis ticks and the reference band of a test's current numeric values, oldest to newest, in SVG
    coordinates (drawn by templates/encounters/_result_trend.html). None when fewer than two values."""
    pts = sorted(
        (r for r in rows if r.value_quantity is not None and r.superseded_by_id is None),
        key=lambda r: r.effective,
    )
    if len(pts) < 2:
        return None
    values = [float(r.value_quantity) for r in pts]
    lows = [float(r.reference_low) for r in pts if r.reference_low is not None]
    highs = [float(r.reference_high) for r in pts if r.reference_high is not None]
    lo = min(values + lows[-1:])
    hi = max(values + highs[-1:])
    span = (hi - lo) or abs(hi) or 1.0
    lo, hi = lo - span * 0.1, hi + span * 0.1
    t0, t1 = pts[0].effective.timestamp(), pts[-1].effective.timestamp()
    x0, x1, y0, y1 = PAD_L, CHART_W - PAD_R, CHART_H - PAD_B, PAD_T

    def xy(r):
        return (
            round(_scale(r.effective.timestamp(), t0, t1, x0, x1), 1),
            round(_scale(float(r.value_quantity), lo, hi, y0, y1), 1),
        )

    points = [{"x": xy(r)[0], "y": xy(r)[1], "value": r.value_quantity, "date": r.effective} for r in pts]
    band = None
    if lows and highs:
        top, bottom = _scale(highs[-1], lo, hi, y0, y1), _scale(lows[-1], lo, hi, y0, y1)
        band = {"y": round(top, 1), "h": round(bottom - top, 1)}
    ticks = [
        {"y": round(_scale(v, lo, hi, y0, y1), 1), "label": f"{v:.4g}"}
        for v in (lo + (hi - lo) * i / 3 for i in range(4))
    ]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "x0": x0,
        "x1": x1,
        "plot_w": x1 - x0,
        "y0": y0,
        "y1": y1,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "points": points,
        "band": band,
        "ticks": ticks,
        "first": pts[0].effective,
        "last": pts[-1].effective,
        "unit": pts[-1].value_unit,
    }
