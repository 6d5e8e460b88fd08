"""Writes of results (laboratory, social history, survey ... Observations that are not vital signs).

The chart shows results; until now they arrived only by import. Devices and other systems send them through the
FHIR API (fhirapi/writing.py), which calls these services as every other writer does: the door first (change_clinical
on the patient, before the transaction), full_clean, a guarded save; django-auditlog records the row write.
Values are stored as given: the column keeps 4 decimal places and refuses more (never rounds).

Results from the laboratory (orders/, HL7 ORU) are filed by results_file, called by orders inside its transaction
after it has matched the result to a patient it has the right to write to. A corrected value supersedes the earlier
one visibly: the earlier row stays and points at its replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import roles
from audit import categories

from .models import Encounter, Interpretation, Observation, ObservationCategory, ObservationStatus
from .services import _door, _save_guarded

RESULT_FIELDS = (
    "category",
    "loinc_code",
    "display",
    "value_quantity",
    "value_unit",
    "value_text",
    "value_code",
    "value_system",
    "reference_low",
    "reference_high",
    "interpretation",
    "status",
    "effective",
    "issued",
)


def _encounter_check(patient, encounter_id) -> None:
    if encounter_id and not Encounter.objects.filter(pk=encounter_id, patient=patient).exists():
        raise ValidationError({"encounter": "That encounter belongs to another patient."})


def result_record(*, actor, patient_id, values: dict, encounter_id=None, request=None) -> Observation:
    """Record one result. Who: change_clinical on the patient."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.RESULTS,
        request=request,
    )
    _encounter_check(patient, encounter_id)
    obs = Observation(
        patient=patient, encounter_id=encounter_id, **{k: v for k, v in values.items() if k in RESULT_FIELDS}
    )
    obs.full_clean()  # field by field: the API names the element
    _save_guarded(obs, force_insert=True)
    return obs


def result_correct(*, actor, result_id, values: dict, request=None) -> Observation:
    """Correct or amend a result (its value, status, dates ...). Who: change_clinical on its patient."""
    from core.guarded import patient_id_of

    patient_id = patient_id_of(Observation, result_id, "result")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.RESULTS,
        request=request,
    )
    with transaction.atomic():
        obs = Observation.objects.select_for_update().get(pk=result_id)
        for k, v in values.items():
            if k in RESULT_FIELDS:
                setattr(obs, k, v)
        obs.full_clean()  # field by field: the API names the element
        _save_guarded(obs)
    return obs


# ------------------------------------------------------------------ results from the laboratory
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
        # Every field checked here (lengths, choices, digits); the new row's own uuid, its patient (a row just
        # read) and the reference-range order are the database's to hold (primary key, foreign key, CHECK), so
        # they cost no query each: 4 of every 9 a value cost before (the results-ingest figure).
        row.full_clean(
            exclude=["encounter", "superseded_by"], validate_unique=False, validate_constraints=False
        )
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
