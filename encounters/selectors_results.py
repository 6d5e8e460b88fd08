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


def result_trend(*, patient, code: str, limit: int = 60) -> dict | None:
    """The chart and table of one test (LOINC `code`) for `patient`, or None when it has no numeric result. Values
    are drawn in the unit of the latest result; results in another unit are counted, not drawn (one axis). One
    query."""
    rows = list(
        Observation.objects.filter(patient=patient, loinc_code=code[:20], value_quantity__isnull=False)
        .exclude(status=ObservationStatus.ERROR)
        .order_by("-effective")[:limit]
    )
    if not rows:
        return None
    latest = rows[0]
    same = [o for o in reversed(rows) if o.value_unit == latest.value_unit]
    places = _places([o.value_quantity for o in same])
    unit = ucum_label(latest.value_unit)
    ranged = next((o for o in rows if o.reference_low is not None and o.reference_high is not None), None)
    band = [float(ranged.reference_low), float(ranged.reference_high)] if ranged else []
    values = [float(o.value_quantity) for o in same]
    top = max(abs(v) for v in [*values, *band])
    return {
        "title": latest.display,
        "loinc": latest.loinc_code,
        "unit": unit,
        "band_text": f"{ranged.reference_low.normalize():f}\u2013{ranged.reference_high.normalize():f}"
        if ranged
        else "",
        "rows": [
            {"at": o.effective, "value": f"{o.value_quantity:.{places}f}", "flag": o.flag} for o in same
        ],
        "other_units": len(rows) - len(same),
        "chart": {
            "title": latest.display,
            "unit": unit,
            "decimals": places,
            "minPad": max(top * 0.05, 10**-places),
            "t": [int(o.effective.timestamp()) for o in same],
            "series": [{"label": latest.display, "values": values}],
            "bands": [band],
        },
    }
