"""Reads for the FHIR API. Patient data still goes through the one door (patients.selectors / patients.access);
these add the SMART patient-context restriction and the list event for searches.

Callers: fhirapi.resources only. `request.audit_channel` is "api" there, so every event says it came by the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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


# ====================================================================== clinical resources
# Each clinical type: which rows, which permission and audit category. Reads go through patient_get (the one
# door) with that permission; searches through visible_patients, restricted to the patients named by the client
# (or the launch patient), with one list event naming them.
@dataclass(frozen=True)
class ClinicalKind:
    model: type
    perm: str
    category: str
    related: tuple[str, ...]
    order: tuple[str, ...]


def _clinical_kinds() -> dict[str, ClinicalKind]:
    from encounters.models import Allergy, Appointment, Encounter, MedicationStatement, Problem, VitalSigns
    from prescriptions.models import Prescription

    return {
        "Encounter": ClinicalKind(Encounter, roles.VIEW_CLINICAL, categories.ENCOUNTERS,
                                  ("provider__practitioner", "location"), ("-start", "pk")),
        "Condition": ClinicalKind(Problem, roles.VIEW_CLINICAL, categories.PROBLEMS, ("code",),
                                  ("-recorded_at", "pk")),
        "AllergyIntolerance": ClinicalKind(Allergy, roles.VIEW_CLINICAL, categories.ALLERGIES, (),
                                           ("substance_text", "pk")),
        "Observation": ClinicalKind(VitalSigns, roles.VIEW_CLINICAL, categories.VITALS, (), ("-taken_at", "pk")),
        "MedicationRequest": ClinicalKind(Prescription, roles.VIEW_CLINICAL, categories.MEDICATIONS,
                                          ("medication", "prescriber__practitioner"), ("-created_at", "pk")),
        "MedicationStatement": ClinicalKind(MedicationStatement, roles.VIEW_CLINICAL, categories.MEDICATIONS, (),
                                            ("name", "pk")),
        "Appointment": ClinicalKind(Appointment, roles.VIEW_SCHEDULE, categories.SCHEDULE,
                                    ("provider__practitioner", "appointment_type"), ("-start", "pk")),
    }


KINDS: dict[str, ClinicalKind] = {}


def clinical_kind(resource_type: str) -> ClinicalKind:
    if not KINDS:
        KINDS.update(_clinical_kinds())
    return KINDS[resource_type]


def clinical_fhir_get(*, resource_type: str, actor, row_id, launch_patient_id: uuid.UUID | None, request):
    """One row of a clinical type, if `actor` holds the type's permission on its patient (and, with a
    patient-context token, it is the launch patient's). Http404 otherwise, with a denied event."""
    kind = clinical_kind(resource_type)
    pk = _uuid(row_id)
    patient_id = (
        kind.model.objects.filter(pk=pk).values_list("patient_id", flat=True).first() if pk else None
    )
    if patient_id is None:
        raise Http404("Not found")
    if launch_patient_id is not None and patient_id != launch_patient_id:
        access_record_denied(actor=actor, category=kind.category, patient_id=patient_id, request=request,
                             detail={"needed": "patient launch context"})
        raise Http404("Not found")
    patient_get(actor=actor, patient_id=patient_id, perm=kind.perm, category=kind.category, request=request)
    return kind.model.objects.select_related(*kind.related).get(pk=pk)


def clinical_patients_in_reach(
    *, resource_type: str, actor, patient_ids: list[str] | None, launch_patient_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The patients a clinical search may cover: those named (None = not restricted, only for a patient-context
    token) that `actor` holds the type's permission on, narrowed to the launch patient if there is one."""
    kind = clinical_kind(resource_type)
    qs = visible_patients(actor, kind.perm)
    if patient_ids is not None:
        qs = qs.filter(pk__in=[u for u in (_uuid(p) for p in patient_ids) if u])
    if launch_patient_id is not None:
        qs = qs.filter(pk=launch_patient_id)
    return list(qs.values_list("pk", flat=True))


def clinical_fhir_rows(*, resource_type: str, patient_ids: list[uuid.UUID], filters: Q,
                       offset: int = 0, count: int | None = None) -> tuple[list, int]:
    """Rows of the patients already put in reach by clinical_patients_in_reach; `count=None`: all of them."""
    kind = clinical_kind(resource_type)
    qs = kind.model.objects.filter(patient_id__in=patient_ids).filter(filters).select_related(*kind.related)
    qs = qs.order_by(*kind.order)
    if count is None:
        rows = list(qs)
        return rows, len(rows)
    total = qs.count()
    return (list(qs[offset : offset + count]) if total > offset else []), total


def clinical_search_record(*, resource_type: str, actor, patient_ids, request, param_names: list[str]) -> None:
    """The one list event of a clinical search, naming the patients searched."""
    access_record(
        actor=actor,
        action=Action.LIST,
        category=clinical_kind(resource_type).category,
        patient_ids=list(patient_ids),
        request=request,
        detail={"query_kind": "fhir", "resource": resource_type, "params": sorted(param_names)},
    )
