"""Reads for the FHIR API. Patient data still goes through the one door (patients.selectors / patients.access);
these add the SMART patient-context restriction and the list event for searches.

Callers: fhirapi.resources only. `request.audit_channel` is "api" there, so every event says it came by the API.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from django.http import Http404

from accounts import roles
from accounts.models import Practitioner
from audit import categories
from audit.models import Action
from audit.services import access_record, access_record_denied
from patients.access import visible_patients
from patients.models import Patient
from patients.selectors import patient_get


def patient_fhir_get(*, actor, patient_id, launch_patient_id: uuid.UUID | None, request) -> Patient:
    """One patient `actor` may see (VIEW_DEMOGRAPHICS); with a patient-context token, only the launch patient.

    Anything else is Http404 and a denied event, the same answer as for a patient that does not exist.
    """
    if launch_patient_id is not None and str(patient_id) != str(launch_patient_id):
        access_record_denied(
            actor=actor,
            category=categories.DEMOGRAPHICS,
            patient_id=_uuid(patient_id),
            request=request,
            detail={"needed": "patient launch context"},
        )
        raise Http404("No patient found")
    return patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.VIEW_DEMOGRAPHICS,
        category=categories.DEMOGRAPHICS,
        request=request,
    )


def patient_fhir_search(
    *,
    actor,
    filters: Q,
    launch_patient_id: uuid.UUID | None,
    count: int,
    offset: int,
    request,
    param_names: list[str],
) -> tuple[list[Patient], int]:
    """One page of the patients `actor` may see that match `filters`, and the total number of matches.

    Records one list event naming the patients returned (the parameter names are kept, not their values).
    """
    qs = visible_patients(actor, roles.VIEW_DEMOGRAPHICS).filter(filters)
    if launch_patient_id is not None:
        qs = qs.filter(pk=launch_patient_id)
    qs = qs.order_by("family_name", "given_name", "pk")
    total = qs.count()
    rows = list(qs[offset : offset + count]) if total > offset else []
    access_record(
        actor=actor,
        action=Action.LIST,
        category=categories.PATIENT_LIST,
        patient_ids=[p.pk for p in rows],
        request=request,
        detail={"query_kind": "fhir", "params": sorted(param_names)},
    )
    return rows, total


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# Practitioners are staff directory entries, not patient data: any token that may read Practitioner sees them.
def practitioner_fhir_get(*, practitioner_id) -> Practitioner:
    if not str(practitioner_id).isdigit():
        raise Http404("No practitioner found")
    try:
        return Practitioner.objects.select_related("user").get(pk=int(practitioner_id))
    except Practitioner.DoesNotExist:
        raise Http404("No practitioner found") from None


def practitioner_fhir_search(*, filters: Q, count: int, offset: int) -> tuple[list[Practitioner], int]:
    qs = (
        Practitioner.objects.select_related("user")
        .filter(filters)
        .order_by("user__last_name", "user__first_name", "pk")
    )
    total = qs.count()
    return (list(qs[offset : offset + count]) if total > offset else []), total
