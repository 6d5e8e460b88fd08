"""A laboratory result's trend: one test's numeric values over time, for the drawn chart (static/js/vitals_chart.js,
uPlot) and the table beside it, oldest first as the chart reads left to right."""

from __future__ import annotations

from decimal import Decimal

from core.units import ucum_label

from .models import Observation, ObservationStatus


def _places(values: list[Decimal]) -> int:
    """Decimals to show: as many as the most precise value has (trailing zeros aside), at most 3."""
    places = 0
    for v in values:
        exp = v.normalize().as_tuple().exponent
        if isinstance(exp, int) and exp < 0:
            places = max(places, -exp)
    return min(places, 3)


def _range(rows) -> tuple[Decimal, Decimal] | None:
    """The reference range of the latest result that has both ends (the laboratory's, shaded on the chart)."""
    for o in rows:
        low, high = o.reference_low, o.reference_high
        if low is not None and high is not None:
            return low, high
    return None


def result_trend(*, patient, code: str, limit: int = 60) -> dict | None:
    """The chart and table of one test (LOINC `code`) for `patient`, or None when it has no numeric result. Values
    are drawn in the unit of the latest result; results in another unit are counted, not drawn (one axis). A value
    replaced by a corrected or final one is not drawn (the results page shows it, struck out). One query."""
    rows = list(
        Observation.objects.filter(
            patient=patient, loinc_code=code[:20], value_quantity__isnull=False, superseded_by__isnull=True
        )
        .exclude(status=ObservationStatus.ERROR)
        .order_by("-effective")[:limit]
    )
    if not rows:
        return None
    latest = rows[0]
    same = [
        (o, q)
        for o in reversed(rows)
        if (q := o.value_quantity) is not None and o.value_unit == latest.value_unit
    ]
    places = _places([q for _o, q in same])
    unit = ucum_label(latest.value_unit)
    ref = _range(rows)
    band = [float(ref[0]), float(ref[1])] if ref else []
    values = [float(q) for _o, q in same]
    top = max(abs(v) for v in [*values, *band])
    return {
        "title": latest.display,
        "loinc": latest.loinc_code,
        "unit": unit,
        "band_text": f"{ref[0].normalize():f}\u2013{ref[1].normalize():f}" if ref else "",
        "rows": [{"at": o.effective, "value": f"{q:.{places}f}", "flag": o.flag} for o, q in same],
        "other_units": len(rows) - len(same),
        "chart": {
            "title": latest.display,
            "unit": unit,
            "decimals": places,
            "minPad": max(top * 0.05, 10**-places),
            "t": [int(o.effective.timestamp()) for o, _q in same],
            "series": [{"label": latest.display, "values": values}],
            "bands": [band],
        },
    }
