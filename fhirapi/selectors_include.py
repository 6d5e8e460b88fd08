"""Reads for `_include` and `_revinclude` (fhirapi/includes.py): the resources a page of search matches refers to,
or that refer to it, through the same door as the search itself. One query per included type (and one list event
naming the patients whose data was included), whatever the number of matches.
"""

from __future__ import annotations

import uuid

from django.db.models import Q

from accounts import roles
from accounts.models import Practitioner
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.access import visible_patients
from patients.models import Patient

from .selectors import clinical_fhir_rows, clinical_kind, clinical_patients_in_reach, clinical_search_record


def _uuids(ids) -> list[uuid.UUID]:
    out = []
    for value in ids:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def included_patients(*, actor, ids, launch_patient_id: uuid.UUID | None, request) -> list[Patient]:
    """The patients among `ids` that `actor` may see (VIEW_DEMOGRAPHICS; only the launch patient for a
    patient-context token), with one list event naming them."""
    qs = visible_patients(actor, roles.VIEW_DEMOGRAPHICS).filter(pk__in=_uuids(ids))
    if launch_patient_id is not None:
        qs = qs.filter(pk=launch_patient_id)
    rows = list(qs.order_by("family_name", "given_name", "pk"))
    if rows:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.PATIENT_LIST,
            patient_ids=[p.pk for p in rows],
            request=request,
            detail={"query_kind": "fhir", "params": ["_include"]},
        )
    return rows


def included_practitioners(*, ids) -> list[Practitioner]:
    """Practitioners are the staff directory, not patient data (as in practitioner_fhir_search)."""
    pks = [int(i) for i in ids if str(i).isdigit()]
    return list(Practitioner.objects.select_related("user").filter(pk__in=pks).order_by("pk"))


def included_rows(
    *,
    resource_type: str,
    actor,
    ids,
    patient_ids,
    launch_patient_id: uuid.UUID | None,
    request,
    param: str,
) -> list:
    """Rows of a clinical (or kept) type: those among `ids` (None: all of them) of the patients in `patient_ids`
    that `actor` holds the type's permission on, with one list event naming those patients."""
    reach = clinical_patients_in_reach(
        resource_type=resource_type,
        actor=actor,
        patient_ids=[str(p) for p in patient_ids],
        launch_patient_id=launch_patient_id,
    )
    if not reach:
        return []
    wanted = Q() if ids is None else Q(pk__in=_uuids(ids))
    sources = clinical_kind(resource_type).sources
    rows, _ = clinical_fhir_rows(
        resource_type=resource_type, patient_ids=reach, filters=[wanted] * len(sources)
    )
    clinical_search_record(
        resource_type=resource_type, actor=actor, patient_ids=reach, request=request, param_names=[param]
    )
    return rows
