"""Writes of results (laboratory, social history, survey ... Observations that are not vital signs).

The chart shows results; until now they arrived only by import. Devices and other systems send them through the
FHIR API (fhirapi/writing.py), which calls these services as every other writer does: the door first (change_clinical
on the patient, before the transaction), full_clean, a guarded save; django-auditlog records the row write.
Values are stored as given: the column keeps 4 decimal places and refuses more (never rounds).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import roles
from audit import categories

from .models import Encounter, Observation
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
