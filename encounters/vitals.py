"""Vital signs: LOINC codes, UCUM units, what is physically possible (refused) and what is normal (flagged)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


@dataclass(frozen=True)
class VitalDef:
    field: str
    loinc: str
    label: str
    unit: str
    possible: tuple[float, float]  # outside: refused as impossible (a typo)
    normal: tuple[float, float]  # outside: flagged for the clinician (adult reference)


VITALS: tuple[VitalDef, ...] = (
    VitalDef("systolic", "8480-6", "Systolic blood pressure", "mm[Hg]", (40, 300), (90, 139)),
    VitalDef("diastolic", "8462-4", "Diastolic blood pressure", "mm[Hg]", (20, 200), (60, 89)),
    VitalDef("heart_rate", "8867-4", "Heart rate", "/min", (20, 300), (50, 100)),
    VitalDef("resp_rate", "9279-1", "Respiratory rate", "/min", (4, 80), (12, 20)),
    VitalDef("temperature", "8310-5", "Body temperature", "Cel", (25, 45), (36.0, 37.9)),
    VitalDef("weight", "29463-7", "Body weight", "kg", (0.3, 500), (0.3, 500)),
    VitalDef("height", "8302-2", "Body height", "cm", (20, 260), (20, 260)),
    VitalDef("spo2", "59408-5", "Oxygen saturation (pulse oximetry)", "%", (40, 100), (94, 100)),
    # Patient-reported (0 none, 10 worst): recorded and charted, not flagged.
    VitalDef("pain_score", "72514-3", "Pain (0-10)", "/10", (0, 10), (0, 10)),
    VitalDef("bmi", "39156-5", "Body mass index", "kg/m2", (5, 150), (18.5, 24.9)),
)
BY_FIELD = {v.field: v for v in VITALS}
ENTERED = tuple(v.field for v in VITALS if v.field != "bmi")


# Readable labels for the UCUM codes: staff never read "[degF]" or "mm[Hg]".
UNIT_LABELS = {
    "mm[Hg]": "mmHg",
    "/min": "/min",
    "Cel": "\u00b0C",
    "[degF]": "\u00b0F",
    "kg": "kg",
    "[lb_av]": "lb",
    "cm": "cm",
    "[in_i]": "in",
    "%": "%",
    "/10": "/10",
    "kg/m2": "kg/m\u00b2",
}
# The measurements a clinic may type in another unit: field -> the units offered (the first is the stored one).
CONVERTIBLE = {"temperature": ("Cel", "[degF]"), "weight": ("kg", "[lb_av]"), "height": ("cm", "[in_i]")}
_LB = Decimal("0.45359237")  # kg per avoirdupois pound (exact, by definition)
_IN = Decimal("2.54")  # cm per international inch (exact)
STORED = Decimal("0.001")


def unit_label(code: str) -> str:
    return UNIT_LABELS.get(code, code)


def _dec(value) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def to_base(value, unit: str) -> Decimal:
    """A value typed in `unit` -> the stored UCUM base unit (Cel, kg, cm), exact then kept to 0.001."""
    v = _dec(value)
    if unit == "[degF]":
        v = (v - 32) * 5 / 9
    elif unit == "[lb_av]":
        v = v * _LB
    elif unit == "[in_i]":
        v = v * _IN
    return v.quantize(STORED, rounding=ROUND_HALF_UP)


def from_base(value, unit: str) -> Decimal:
    """A stored base-unit value -> `unit` (unrounded; the caller rounds for display)."""
    v = _dec(value)
    if unit == "[degF]":
        return v * 9 / 5 + 32
    if unit == "[lb_av]":
        return v / _LB
    if unit == "[in_i]":
        return v / _IN
    return v


def display_unit(field: str, units: dict | None) -> str:
    """The UCUM unit a measurement is shown in: the clinic's choice for convertible ones, else its own."""
    if field in CONVERTIBLE and units and units.get(field) in CONVERTIBLE[field]:
        return units[field]
    return BY_FIELD[field].unit


def shown(vs, field: str, units: dict | None) -> Decimal | None:
    """The value of `field` of a VitalSigns row in the clinic's unit: the value as typed when it was typed in that
    unit, else converted from the stored one and rounded to 0.1 (display only)."""
    base = getattr(vs, field)
    if base is None:
        return None
    unit = display_unit(field, units)
    if field not in CONVERTIBLE:
        return base
    entered = getattr(vs, f"{field}_entered", None)
    if entered is not None and getattr(vs, f"{field}_unit", "") == unit:
        return entered
    return from_base(base, unit).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def fmt(value) -> str:
    """A decimal without trailing zeros (98.60 -> 98.6, 150.00 -> 150)."""
    if value is None:
        return ""
    d = Decimal(value)
    s = f"{d:f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def bmi(weight_kg, height_cm) -> Decimal | None:
    if not weight_kg or not height_cm:
        return None
    m = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (m * m)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _base_or_inf(value, unit: str) -> float:
    """The value in its base unit, or infinity for a number too large to convert (a 40-digit heart rate): out of
    range, said so, rather than a decimal.InvalidOperation (a 500, found by tests/fuzz)."""
    try:
        return float(to_base(value, unit))
    except (InvalidOperation, ValueError, OverflowError):
        return math.inf


def impossible(values: dict, units: dict | None = None) -> dict[str, str]:
    """Field -> message for values outside what a living patient can have (900 mmHg is a typo). `values` are in
    `units` (field -> UCUM, for the convertible ones; base units otherwise); the message speaks the same unit."""
    errors = {}
    for f, value in values.items():
        d = BY_FIELD.get(f)
        if d is None or value is None:
            continue
        unit = (units or {}).get(f) or d.unit
        lo, hi = d.possible
        if not lo <= _base_or_inf(value, unit) <= hi:
            lo_u, hi_u = (from_base(b, unit).quantize(Decimal("0.1")) for b in (lo, hi))
            errors[f] = (
                f"{d.label} of {fmt(value)} {unit_label(unit)} is not possible; "
                f"enter a value between {fmt(lo_u)} and {fmt(hi_u)} {unit_label(unit)}."
            )
    sbp, dbp = values.get("systolic"), values.get("diastolic")
    if sbp is not None and dbp is not None and dbp >= sbp:
        errors["diastolic"] = "Diastolic pressure must be lower than systolic."
    return errors


def flag(field: str, value) -> str:
    """'high', 'low' or '' against the adult reference range."""
    d = BY_FIELD.get(field)
    if d is None or value is None:
        return ""
    lo, hi = d.normal
    v = float(value)
    return "high" if v > hi else "low" if v < lo else ""
