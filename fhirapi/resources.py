"""The resource types the API serves. The CapabilityStatement and the URL dispatch are both built from REGISTRY,
so the server never advertises what it cannot do.

Adding a type (Encounter, Condition, AllergyIntolerance, Observation, MedicationRequest, Appointment ...) means:
a mapping function in mapping.py, a selector that goes through the one door with the right data category
(these are clinical: VIEW_CLINICAL, and a patient/ token restricted to its launch patient), search handlers in
search.py, then one `register(ResourceType(...))` here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import mapping, search, selectors
from .auth import Grant


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # FHIR SearchParamType: string, token, date, ...
    documentation: str


@dataclass(frozen=True)
class Page:
    resources: list[dict]
    total: int


@dataclass(frozen=True)
class ResourceType:
    name: str
    profile: str
    # read(*, grant, resource_id, request) -> resource JSON; Http404 when out of reach
    read: Callable[..., dict]
    # search(*, grant, params, count, offset, request) -> Page; SearchError on bad values
    search: Callable[..., Page]
    search_params: tuple[SearchParam, ...] = field(default=())


REGISTRY: dict[str, ResourceType] = {}


def register(rt: ResourceType) -> None:
    REGISTRY[rt.name] = rt


def resource_type_get(name: str) -> ResourceType | None:
    return REGISTRY.get(name)


# ---------------------------------------------------------------- Patient
def _patient_read(*, grant: Grant, resource_id: str, request) -> dict:
    p = selectors.patient_fhir_get(
        actor=grant.actor, patient_id=resource_id, launch_patient_id=grant.patient_id, request=request
    )
    return mapping.patient_to_fhir(p)


def _patient_search(*, grant: Grant, params, count: int, offset: int, request) -> Page:
    filters = search.filters_from(params, search.PATIENT_PARAMS)
    rows, total = selectors.patient_fhir_search(
        actor=grant.actor,
        filters=filters,
        launch_patient_id=grant.patient_id,
        count=count,
        offset=offset,
        request=request,
        param_names=[k for k in params if k not in search.PAGING_PARAMS],
    )
    return Page([mapping.patient_to_fhir(p) for p in rows], total)


register(
    ResourceType(
        name="Patient",
        profile=mapping.US_CORE + "us-core-patient",
        read=_patient_read,
        search=_patient_search,
        search_params=(
            SearchParam("_id", "token", "The patient's id"),
            SearchParam("identifier", "token", f"MRN: [{mapping.MRN_SYSTEM}|]value"),
            SearchParam(
                "name",
                "string",
                "Start of any word of any name (official, preferred, previous); accents ignored",
            ),
            SearchParam("family", "string", "Start of the family name"),
            SearchParam("given", "string", "Start of a given, middle or preferred name"),
            SearchParam("birthdate", "date", "YYYY[-MM[-DD]] with optional prefix eq, ne, gt, lt, ge, le"),
            SearchParam("gender", "token", "male | female | other | unknown (administrative gender)"),
        ),
    )
)


# ---------------------------------------------------------------- Practitioner
def _practitioner_read(*, grant: Grant, resource_id: str, request) -> dict:
    return mapping.practitioner_to_fhir(selectors.practitioner_fhir_get(practitioner_id=resource_id))


def _practitioner_search(*, grant: Grant, params, count: int, offset: int, request) -> Page:
    filters = search.filters_from(params, search.PRACTITIONER_PARAMS)
    rows, total = selectors.practitioner_fhir_search(filters=filters, count=count, offset=offset)
    return Page([mapping.practitioner_to_fhir(pr) for pr in rows], total)


register(
    ResourceType(
        name="Practitioner",
        profile=mapping.US_CORE + "us-core-practitioner",
        read=_practitioner_read,
        search=_practitioner_search,
        search_params=(
            SearchParam("_id", "token", "The practitioner's id"),
            SearchParam("identifier", "token", f"NPI: [{mapping.NPI_SYSTEM}|]value"),
            SearchParam("name", "string", "Start of the given or family name"),
            SearchParam("family", "string", "Start of the family name"),
            SearchParam("given", "string", "Start of the given name"),
        ),
    )
)
