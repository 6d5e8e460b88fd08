"""Reads for the FHIR API. Patient data still goes through the one door (patients.selectors / patients.access);
these add the SMART patient-context restriction and the list event for searches.

Callers: fhirapi.resources only. `request.audit_channel` is "api" there, so every event says it came by the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

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

from .sorting import merged, ordered


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
    sort: list[tuple[str, bool]] | None = None,
) -> tuple[list[Patient], int]:
    """One page of the patients `actor` may see that match `filters`, and the total number of matches.

    Records one list event naming the patients returned (the parameter names are kept, not their values).
    """
    qs = visible_patients(actor, roles.VIEW_DEMOGRAPHICS).filter(filters)
    if launch_patient_id is not None:
        qs = qs.filter(pk=launch_patient_id)
    qs = ordered(qs, "Patient", 0, sort) if sort else qs.order_by("family_name", "given_name", "pk")
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


def practitioner_fhir_search(
    *, filters: Q, count: int, offset: int, sort: list[tuple[str, bool]] | None = None
) -> tuple[list[Practitioner], int]:
    qs = Practitioner.objects.select_related("user").filter(filters)
    qs = (
        ordered(qs, "Practitioner", 0, sort)
        if sort
        else qs.order_by("user__last_name", "user__first_name", "pk")
    )
    total = qs.count()
    return (list(qs[offset : offset + count]) if total > offset else []), total


# ====================================================================== clinical resources
# Each clinical type: which rows, which permission and audit category. Reads go through patient_get (the one
# door) with that permission; searches through visible_patients, restricted to the patients named by the client
# (or the launch patient), with one list event naming them.
@dataclass(frozen=True)
class Source:
    """One table behind a FHIR type."""

    model: Any  # a model class (django-stubs does not see .objects on type[Model])
    related: tuple[str, ...]
    order: tuple[str, ...]
    prefetch: tuple[str, ...] = ()
    only: Q | None = None  # rows of the model that are this FHIR type (e.g. signed notes)
    when: Callable | None = None  # row -> instant, to merge two tables newest first
    shape: Callable | None = None  # queryset -> queryset: annotations the mapping reads (one query still)

    def rows(self):
        qs = self.model.objects.select_related(*self.related).prefetch_related(*self.prefetch)
        qs = qs.filter(self.only) if self.only is not None else qs
        return self.shape(qs) if self.shape is not None else qs


@dataclass(frozen=True)
class ClinicalKind:
    """A clinical FHIR type: its permission, audit category and the table(s) it is read from. Two tables feed
    MedicationRequest (prescriptions written here, orders imported from elsewhere) and Observation (sets of vital
    signs, results)."""

    perm: str
    category: str
    sources: tuple[Source, ...]


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _clinical_kinds() -> dict[str, ClinicalKind]:
    from encounters.models import (
        Allergy,
        Encounter,
        Immunization,
        MedicationSource,
        MedicationStatement,
        Note,
        NoteStatus,
        Observation,
        Problem,
        VitalSigns,
    )
    from orders.models import Order
    from prescriptions.models import Prescription
    from scheduling.models import Appointment

    from . import diagnostic_report

    imported = Q(source=MedicationSource.IMPORTED)
    return {
        "Encounter": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.ENCOUNTERS,
            (Source(Encounter, ("provider__practitioner", "location"), ("-start", "pk")),),
        ),
        "Condition": ClinicalKind(
            roles.VIEW_CLINICAL, categories.PROBLEMS, (Source(Problem, ("code",), ("-recorded_at", "pk")),)
        ),
        "AllergyIntolerance": ClinicalKind(
            roles.VIEW_CLINICAL, categories.ALLERGIES, (Source(Allergy, (), ("substance_text", "pk")),)
        ),
        "Observation": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.VITALS,
            (
                Source(VitalSigns, (), ("-taken_at", "pk"), when=lambda r: r.taken_at),
                Source(Observation, (), ("-effective", "pk"), when=lambda r: r.effective),
            ),
        ),
        "MedicationRequest": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.MEDICATIONS,
            (
                Source(
                    Prescription,
                    ("medication", "prescriber__practitioner"),
                    ("-created_at", "pk"),
                    when=lambda r: r.signed_at or r.created_at,
                ),
                Source(
                    MedicationStatement,
                    ("requester__practitioner",),
                    ("-authored_at", "pk"),
                    only=imported,
                    when=lambda r: r.authored_at or r.recorded_at,
                ),
            ),
        ),
        "MedicationStatement": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.MEDICATIONS,
            (Source(MedicationStatement, (), ("name", "pk"), only=~imported),),
        ),
        "Immunization": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.IMMUNIZATIONS,
            (Source(Immunization, ("performer__practitioner",), ("-occurrence", "pk")),),
        ),
        "ServiceRequest": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.LAB_ORDER,
            (Source(Order, ("test", "lab", "ordering_clinician__practitioner"), ("-created_at", "pk")),),
        ),
        "Appointment": ClinicalKind(
            roles.VIEW_SCHEDULE,
            categories.SCHEDULE,
            (Source(Appointment, ("provider__practitioner", "appointment_type"), ("-start", "pk")),),
        ),
        **_kept_kinds(),
        # Reports filed here (orders.ResultReport) and those kept as received at import.
        "DiagnosticReport": diagnostic_report.kind(),
        # Signed notes only: a draft is work in progress, not yet part of the record.
        "DocumentReference": ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.CLINICAL_NOTE,
            (
                Source(
                    Note,
                    ("author__practitioner", "signed_by__practitioner"),
                    ("-signed_at", "pk"),
                    prefetch=("addenda__author",),
                    only=Q(status=NoteStatus.SIGNED),
                ),
            ),
        ),
    }


# Types the product does not model: served as they were received (fhirapi.KeptResource), through the same door
# as the rest of the patient's clinical record.
KEPT_TYPES = (
    "Procedure",
    "DiagnosticReport",
    "CarePlan",
    "CareTeam",
    "Goal",
    "Organization",
    "Location",
    "PractitionerRole",
    "Provenance",
    "Device",
    "ImagingStudy",
    "Coverage",
    "Claim",
    "ExplanationOfBenefit",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "Specimen",
    "FamilyMemberHistory",
    "QuestionnaireResponse",
    "RelatedPerson",
    "Consent",
    "Communication",
    "Media",
    "SupplyDelivery",
    "DeviceRequest",
    "NutritionOrder",
    "RiskAssessment",
    "Composition",
    "ClinicalImpression",
    "DetectedIssue",
    "Flag",
    "List",
)


def _kept_kinds() -> dict[str, ClinicalKind]:
    from .models import KeptResource

    return {
        name: ClinicalKind(
            roles.VIEW_CLINICAL,
            categories.FHIR,
            (Source(KeptResource, (), ("received_at", "pk"), only=Q(resource_type=name)),),
        )
        for name in KEPT_TYPES
    }


KINDS: dict[str, ClinicalKind] = {}


def clinical_kinds() -> dict[str, ClinicalKind]:
    if not KINDS:
        KINDS.update(_clinical_kinds())
    return KINDS


def clinical_kind(resource_type: str) -> ClinicalKind:
    return clinical_kinds()[resource_type]


def clinical_fhir_get(*, resource_type: str, actor, row_id, launch_patient_id: uuid.UUID | None, request):
    """One row of a clinical type, if `actor` holds the type's permission on its patient (and, with a
    patient-context token, it is the launch patient's). Http404 otherwise, with a denied event."""
    return _kind_get(clinical_kind(resource_type), actor, row_id, launch_patient_id, request)


def kept_fhir_get(*, resource_type: str, actor, row_id, launch_patient_id: uuid.UUID | None, request):
    """A resource kept as received whose type the product models (a Practitioner of the sending system, a
    resource whose values could not be used): the same door as the patient's clinical record."""
    from .models import KeptResource

    source = Source(KeptResource, (), ("received_at", "pk"), only=Q(resource_type=resource_type))
    kind = ClinicalKind(roles.VIEW_CLINICAL, categories.FHIR, (source,))
    return _kind_get(kind, actor, row_id, launch_patient_id, request)


def _kind_get(kind: ClinicalKind, actor, row_id, launch_patient_id, request):
    pk = _uuid(row_id)
    source = patient_id = None
    for candidate in kind.sources if pk else ():
        patient_id = candidate.rows().filter(pk=pk).values_list("patient_id", flat=True).first()
        if patient_id is not None:
            source = candidate
            break
    if source is None:
        raise Http404("Not found")
    if launch_patient_id is not None and patient_id != launch_patient_id:
        access_record_denied(
            actor=actor,
            category=kind.category,
            patient_id=patient_id,
            request=request,
            detail={"needed": "patient launch context"},
        )
        raise Http404("Not found")
    patient_get(actor=actor, patient_id=patient_id, perm=kind.perm, category=kind.category, request=request)
    return source.rows().get(pk=pk)


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


def clinical_fhir_rows(
    *,
    resource_type: str,
    patient_ids: list[uuid.UUID],
    filters: list[Q],
    offset: int = 0,
    count: int | None = None,
    sort: list[tuple[str, bool]] | None = None,
) -> tuple[list, int]:
    """Rows of the patients already put in reach by clinical_patients_in_reach, one filter per source table;
    `count=None`: all of them. Two tables are merged newest first, or in the order of `sort` (`_sort`)."""
    kind = clinical_kind(resource_type)
    qss = [
        ordered(qs, resource_type, i, sort) if sort else qs.order_by(*src.order)
        for i, (src, f) in enumerate(zip(kind.sources, filters, strict=True))
        for qs in [src.rows().filter(patient_id__in=patient_ids).filter(f)]
    ]
    if len(qss) == 1:
        [qs] = qss
        if count is None:
            rows = list(qs)
            return rows, len(rows)
        total = qs.count()
        return (list(qs[offset : offset + count]) if total > offset else []), total
    whens = {src.model: src.when for src in kind.sources}

    def newest_first(rows):
        if sort:
            return merged(rows, sort)
        return sorted(rows, key=lambda r: cast(Callable, whens[type(r)])(r) or _EPOCH, reverse=True)

    if count is None:
        rows = newest_first(r for qs in qss for r in qs)
        return rows, len(rows)
    total = sum(qs.count() for qs in qss)
    # The page's rows are among the first offset+count of each table.
    rows = newest_first(r for qs in qss for r in qs[: offset + count])
    return rows[offset : offset + count], total


def clinical_search_record(
    *, resource_type: str, actor, patient_ids, request, param_names: list[str]
) -> None:
    """The one list event of a clinical search, naming the patients searched."""
    access_record(
        actor=actor,
        action=Action.LIST,
        category=clinical_kind(resource_type).category,
        patient_ids=list(patient_ids),
        request=request,
        detail={"query_kind": "fhir", "resource": resource_type, "params": sorted(param_names)},
    )


# ====================================================================== everything about one patient
def patient_everything(
    *,
    actor,
    patient_id,
    request,
    launch_patient_id: uuid.UUID | None = None,
    need_clinical: bool = False,
    category: str = categories.EXPORT,
    types: set[str] | None = None,
    since: datetime | None = None,
):
    """The patient and every row of theirs that `actor` may see, per FHIR type: (patient, {type: [rows]}).

    Patient/$everything and the EHI export. Clinical types need VIEW_CLINICAL on the patient, appointments
    VIEW_SCHEDULE; `need_clinical` refuses (404) an actor without clinical access (a full record export must be
    complete). `types` narrows to the FHIR types a token's scopes allow. One access event names the patient and the
    types included. A constant number of queries: one per type, whatever the history.
    """
    if launch_patient_id is not None and str(patient_id) != str(launch_patient_id):
        access_record_denied(
            actor=actor,
            category=category,
            patient_id=_uuid(patient_id),
            request=request,
            detail={"needed": "patient launch context"},
        )
        raise Http404("No patient found")
    perm = roles.VIEW_CLINICAL if need_clinical else roles.VIEW_DEMOGRAPHICS
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=perm,
        category=category,
        request=request,
        action=Action.EXPORT,
        record=False,
    )
    found = {}
    for name, kind in clinical_kinds().items():
        if (types is None or name in types) and patient.access.has(kind.perm):
            found[name] = [
                row
                for src in kind.sources
                for row in changed_since(src.rows().filter(patient_id=patient.pk), since).order_by(*src.order)
            ]
    if patient.access.has(roles.VIEW_CLINICAL):
        _kept_of_mapped_types(patient.pk, found, types, since)
    access_record(
        actor=actor,
        action=Action.EXPORT,
        category=category,
        patient_id=patient.pk,
        request=request,
        break_glass=patient.access.break_glass,
        detail={"types": sorted(found), "rows": sum(len(v) for v in found.values())},
    )
    return patient, found


def changed_since(qs, since: datetime | None):
    """Rows changed at or after `since`: by the table's last-change time (an `auto_now` column, or a kept
    resource's `received_at`, renewed at each re-import). A table that records no change time is returned whole
    (a creation time would miss later edits: over-inclusion, never omission)."""
    if since is None:
        return qs
    for f in qs.model._meta.fields:
        if getattr(f, "auto_now", False) or (
            qs.model._meta.model_name == "keptresource" and f.name == "received_at"
        ):
            return qs.filter(**{f"{f.name}__gte": since})
    return qs


def _kept_of_mapped_types(patient_id, found: dict, types: set[str] | None, since=None) -> None:
    """Resources of a type the product models that were kept as received (their values could not be used)."""
    from .models import KeptResource

    kept = changed_since(KeptResource.objects.filter(patient_id=patient_id), since)
    kept = kept.exclude(resource_type__in=KEPT_TYPES)
    for k in kept.order_by("received_at", "pk"):
        if types is None or k.resource_type in types:
            found.setdefault(k.resource_type, []).append(k)


def patient_for_launch(*, actor, mrn: str, request) -> Patient:
    """The patient a user picks for a SMART standalone launch, by MRN, among those they may see (else 404)."""
    found = (
        visible_patients(actor, roles.VIEW_DEMOGRAPHICS).filter(mrn=mrn).values_list("pk", flat=True).first()
    )
    if found is None:
        access_record_denied(
            actor=actor,
            category=categories.DEMOGRAPHICS,
            request=request,
            detail={"needed": "patient for app launch"},
        )
        raise Http404("No patient found")
    return patient_get(
        actor=actor,
        patient_id=found,
        perm=roles.VIEW_DEMOGRAPHICS,
        category=categories.DEMOGRAPHICS,
        request=request,
    )
