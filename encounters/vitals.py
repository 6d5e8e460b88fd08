"""Vital signs: LOINC codes, UCUM units, what is physically possible (refused) and what is normal (flagged)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


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


def bmi(weight_kg, height_cm) -> Decimal | None:
    if not weight_kg or not height_cm:
        return None
    m = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (m * m)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def impossible(values: dict) -> dict[str, str]:
    """Field -> message for values outside what a living patient can have (900 mmHg is a typo)."""
    errors = {}
    for f, value in values.items():
        d = BY_FIELD.get(f)
        if d is None or value is None:
            continue
        lo, hi = d.possible
        if not lo <= float(value) <= hi:
            errors[f] = (
                f"{d.label} of {value} {d.unit} is not possible; enter a value between {lo:g} and {hi:g}."
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
