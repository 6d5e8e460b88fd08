"""Results (laboratory, social history, survey ...) -> FHIR Observation, and the Observation door for both of its
tables. Part of fhirapi/mapping.py (imported at its end and re-exported there): import it through mapping.
"""

from __future__ import annotations

from decimal import Decimal

from . import given
from .mapping import (
    DATA_ABSENT,
    LOINC_SYSTEM,
    OBSERVATION_CATEGORY,
    UCUM_SYSTEM,
    US_CORE,
    _clean,
    _coding,
    _dt,
    _ref,
    _sent_dt,
    vitals_to_fhir,
)

OBSERVATION_CATEGORY_DISPLAY = {
    "laboratory": "Laboratory",
    "social-history": "Social History",
    "survey": "Survey",
    "exam": "Exam",
    "imaging": "Imaging",
    "procedure": "Procedure",
    "vital-signs": "Vital Signs",
}
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _number(value, row=None, column: str = ""):
    """A Decimal column as a JSON number: 5 for 5.0000, 177.9449 as is; the number as sent while it agrees."""
    found = given.sent(row, column, value, places=given.RESULT_PLACES) if row is not None else None
    if found is not None:
        return found
    d = Decimal(value).normalize()
    return int(d) if d == d.to_integral_value() else float(d)


def result_to_fhir(o) -> dict:
    """A result (laboratory, social history, survey ...): US Core Laboratory Result Observation or the base
    Observation profile for the other categories."""
    profile = (
        "us-core-observation-lab" if o.category == "laboratory" else "us-core-observation-clinical-result"
    )
    out = {
        "resourceType": "Observation",
        "id": str(o.pk),
        "meta": {"profile": [US_CORE + profile]},
        "status": o.status,
        "category": [
            {
                "coding": [
                    _coding(
                        OBSERVATION_CATEGORY,
                        o.category,
                        OBSERVATION_CATEGORY_DISPLAY.get(o.category, o.category),
                    )
                ]
            }
        ],
        "code": {"coding": [_coding(LOINC_SYSTEM, o.loinc_code, o.display)], "text": o.display},
        "subject": _ref("Patient", o.patient_id),
        "encounter": _ref("Encounter", o.encounter_id) if o.encounter_id else None,
        "effectiveDateTime": _sent_dt(o, "effective"),
        "issued": _dt(o.issued),
    }
    if o.value_quantity is not None:
        q = {"value": _number(o.value_quantity, o, "value_quantity"), "unit": o.value_unit or None}
        if o.value_unit:
            q.update(system=UCUM_SYSTEM, code=o.value_unit)
        out["valueQuantity"] = _clean(q)
    elif o.value_code:
        out["valueCodeableConcept"] = _clean(
            {
                "coding": [
                    _clean(
                        {
                            "system": o.value_system or None,
                            "code": o.value_code,
                            "display": o.value_text or None,
                        }
                    )
                ],
                "text": o.value_text or None,
            }
        )
    elif o.value_text:
        out["valueString"] = o.value_text
    else:
        out["dataAbsentReason"] = {"coding": [_coding(DATA_ABSENT, "unknown", "Unknown")]}
    if o.interpretation:
        out["interpretation"] = [{"coding": [{"system": INTERPRETATION_SYSTEM, "code": o.interpretation}]}]
    if o.reference_low is not None or o.reference_high is not None:
        rng = {}
        if o.reference_low is not None:
            rng["low"] = _clean(
                {"value": _number(o.reference_low, o, "reference_low"), "unit": o.value_unit or None}
            )
        if o.reference_high is not None:
            rng["high"] = _clean(
                {"value": _number(o.reference_high, o, "reference_high"), "unit": o.value_unit or None}
            )
        out["referenceRange"] = [rng]
    return _clean(out)


def observation_any_to_fhir(row) -> list[dict]:
    """Observation rows come from two tables: sets of vital signs (several resources each) and results."""
    if row._meta.model_name == "vitalsigns":
        return vitals_to_fhir(row)
    return [result_to_fhir(row)]
