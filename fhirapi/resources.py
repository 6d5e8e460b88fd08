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

from django.db.models import Q
from django.http import Http404

from . import diagnostic_report, fidelity, mapping, orders_fhir, search, selectors, sorting, tokens
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
    # row -> its resources (one, or several for a set of vital signs): for $everything and the EHI export
    expand: Callable[..., list[dict]] | None = None


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
    return fidelity.serve([(p, mapping.patient_to_fhir(p))])[0]


def _patient_search(*, grant: Grant, params, count: int, offset: int, request) -> Page:
    filters = search.filters_from(params, tokens.extended("Patient", search.PATIENT_PARAMS))
    rows, total = selectors.patient_fhir_search(
        actor=grant.actor,
        filters=filters,
        launch_patient_id=grant.patient_id,
        count=count,
        offset=offset,
        request=request,
        param_names=[k for k in params if k not in search.PAGING_PARAMS],
        sort=sorting.sort_keys(params, "Patient"),
    )
    return Page(fidelity.serve([(p, mapping.patient_to_fhir(p)) for p in rows]), total)


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
    try:
        return mapping.practitioner_to_fhir(selectors.practitioner_fhir_get(practitioner_id=resource_id))
    except Http404:  # a clinician of a sending system, kept as received with the patient's record
        return _kept_read("Practitioner", grant, resource_id, request)


def _kept_read(resource_type: str, grant: Grant, resource_id: str, request) -> dict:
    row = selectors.kept_fhir_get(
        resource_type=resource_type,
        actor=grant.actor,
        row_id=resource_id,
        launch_patient_id=grant.patient_id,
        request=request,
    )
    return fidelity.serve([(row, fidelity.kept_to_fhir(row))])[0]


def _practitioner_search(*, grant: Grant, params, count: int, offset: int, request) -> Page:
    filters = search.filters_from(params, search.PRACTITIONER_PARAMS)
    rows, total = selectors.practitioner_fhir_search(
        filters=filters, count=count, offset=offset, sort=sorting.sort_keys(params, "Practitioner")
    )
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


# ====================================================================== clinical resources
# Clinical data is read per patient: US Core requires `patient` on these searches, except with a patient-context
# token, whose launch patient is implied. A patient out of reach gives an empty searchset (the same answer as a
# patient with no such data), a resource out of reach 404.
def _clinical_read(resource_type: str, to_fhir: Callable):
    def read(*, grant: Grant, resource_id: str, request) -> dict:
        try:
            row = selectors.clinical_fhir_get(
                resource_type=resource_type,
                actor=grant.actor,
                row_id=resource_id,
                launch_patient_id=grant.patient_id,
                request=request,
            )
        except Http404:  # kept as received: its values could not be used at import
            if resource_type in selectors.KEPT_TYPES:
                raise
            return _kept_read(resource_type, grant, resource_id, request)
        return fidelity.serve([(row, to_fhir(row))])[0]

    return read


def _clinical_search(resource_type: str, handlers, expand: Callable | None = None, to_fhir=None):
    """`handlers`: the search handlers of each source table (a dict, or a tuple of dicts when two tables feed the
    type). `to_fhir(row) -> dict` for one resource per row; `expand(row, params) -> list[dict]` when a row gives
    several (vital signs), in which case paging happens after the expansion."""
    per_source = handlers if isinstance(handlers, tuple) else (handlers,)
    per_source = tuple({"patient": lambda v: Q(), "subject": lambda v: Q(), **h} for h in per_source)

    def run(*, grant: Grant, params, count: int, offset: int, request) -> Page:
        filters = [search.filters_from(params, h) for h in per_source]
        sort = sorting.sort_keys(params, resource_type)
        named = search.patient_refs(params)
        if named is None and grant.patient_id is None:
            raise search.SearchError(f"{resource_type} searches need the patient parameter.")
        patient_ids = selectors.clinical_patients_in_reach(
            resource_type=resource_type,
            actor=grant.actor,
            patient_ids=named,
            launch_patient_id=grant.patient_id,
        )
        if expand is None:
            rows, total = selectors.clinical_fhir_rows(
                resource_type=resource_type,
                patient_ids=patient_ids,
                filters=filters,
                offset=offset,
                count=count,
                sort=sort,
            )
            resources = fidelity.serve([(r, to_fhir(r)) for r in rows])
        else:
            rows, _ = selectors.clinical_fhir_rows(
                resource_type=resource_type, patient_ids=patient_ids, filters=filters, sort=sort
            )
            everything = [(r, res) for r in rows for res in expand(r, params)]
            total = len(everything)
            resources = fidelity.serve(everything[offset : offset + count])
        selectors.clinical_search_record(
            resource_type=resource_type,
            actor=grant.actor,
            patient_ids=patient_ids,
            request=request,
            param_names=[k for k in params if k not in search.PAGING_PARAMS],
        )
        return Page(resources, total)

    return run


PATIENT_PARAM = SearchParam(
    "patient",
    "reference",
    "The patient: <id> or Patient/<id> (required unless the token has a patient launch context)",
)
ID_PARAM = SearchParam("_id", "token", "The resource id")
SUBJECT_PARAM = SearchParam("subject", "reference", "The patient: Patient/<id> (the same as patient)")
DATE_DOC = "YYYY[-MM[-DD]] with optional prefix eq, ne, gt, lt, ge, le"
TOKEN_DOC = "code, system|code, |code (a coding without a system) or system| (any code of the system)"


def _register_clinical(
    name: str, profile: str, to_fhir, handlers: dict, params: tuple, expand=None, read=None
):
    register(
        ResourceType(
            name=name,
            profile=profile,
            read=read or _clinical_read(name, to_fhir),
            search=_clinical_search(name, tokens.extended(name, handlers), expand=expand, to_fhir=to_fhir),
            search_params=(PATIENT_PARAM, SUBJECT_PARAM, ID_PARAM, *params),
            expand=(lambda row: expand(row, {})) if expand else (lambda row: [to_fhir(row)]),
        )
    )


_register_clinical(
    "Encounter",
    mapping.US_CORE + "us-core-encounter",
    mapping.encounter_to_fhir,
    search.ENCOUNTER_PARAMS,
    (
        SearchParam("date", "date", f"Start of the encounter: {DATE_DOC}"),
        SearchParam("status", "token", "planned | in-progress | finished | cancelled"),
        SearchParam("class", "token", f"{mapping.ACT_CODE}|AMB or VR"),
        SearchParam(
            "type", "token", f"{mapping.ENCOUNTER_TYPE_SYSTEM}|office, telehealth, phone, urgent, wellness"
        ),
    ),
)
_register_clinical(
    "Condition",
    mapping.US_CORE + "us-core-condition-problems-health-concerns",
    mapping.condition_to_fhir,
    search.CONDITION_PARAMS,
    (
        SearchParam("clinical-status", "token", "active | inactive | resolved"),
        SearchParam("category", "token", "problem-list-item"),
        SearchParam(
            "code",
            "token",
            f"ICD-10-CM ({mapping.ICD10CM_SYSTEM}) or the coding an import kept (SNOMED CT): {TOKEN_DOC}",
        ),
        SearchParam("onset-date", "date", DATE_DOC),
    ),
)
_register_clinical(
    "AllergyIntolerance",
    mapping.US_CORE + "us-core-allergyintolerance",
    mapping.allergy_to_fhir,
    search.ALLERGY_PARAMS,
    (
        SearchParam("clinical-status", "token", "active | inactive | resolved"),
        SearchParam(
            "code", "token", f"RxNorm ({mapping.RXNORM_SYSTEM}) or SNOMED CT as imported: {TOKEN_DOC}"
        ),
    ),
)


def _observations(row, params) -> list[dict]:
    """The Observations of one row: a result is one (the database filtered it already); a set of vital signs
    gives one per measurement, narrowed here to what the `code` and `_id` parameters ask for."""
    if row._meta.model_name != "vitalsigns":
        return [mapping.result_to_fhir(row)]
    found = mapping.vitals_to_fhir(row)
    if not params:
        return found
    for value in params.getlist("code"):
        either = set().union(*(tokens.vital_suffixes(v.strip()) for v in value.split(",")))
        found = [o for o in found if o["id"].rpartition("-")[2] in either]
    for value in params.getlist("_id"):
        either = {v.strip() for v in value.split(",")}
        found = [o for o in found if o["id"] in either]
    return found


def _observation_read(*, grant: Grant, resource_id: str, request) -> dict:
    """Results have their row's id; vital signs "<row id>-<measurement>" (one row holds a set)."""
    row_id, _, suffix = resource_id.rpartition("-")
    vital = suffix in mapping.VITAL_SUFFIXES
    row = selectors.clinical_fhir_get(
        resource_type="Observation",
        actor=grant.actor,
        row_id=row_id if vital else resource_id,
        launch_patient_id=grant.patient_id,
        request=request,
    )
    for obs in mapping.observation_any_to_fhir(row):
        if obs["id"] == resource_id:
            return fidelity.serve([(row, obs)])[0]
    raise Http404


_register_clinical(
    "Observation",
    mapping.US_CORE + "us-core-vital-signs",
    None,
    (search.OBSERVATION_PARAMS, search.RESULT_PARAMS),
    (
        SearchParam(
            "category", "token", "vital-signs, laboratory, social-history, survey, exam, imaging, procedure"
        ),
        SearchParam(
            "code",
            "token",
            f"LOINC ({mapping.LOINC_SYSTEM}), e.g. 85354-9 (blood pressure), 8867-4; results imported with other "
            f"codings (SNOMED CT) match those too: {TOKEN_DOC}",
        ),
        SearchParam("date", "date", f"When taken: {DATE_DOC}"),
    ),
    expand=_observations,
    read=_observation_read,
)
_register_clinical(
    "MedicationRequest",
    mapping.US_CORE + "us-core-medicationrequest",
    mapping.medication_request_any_to_fhir,
    (search.MEDICATION_REQUEST_PARAMS, search.IMPORTED_ORDER_PARAMS),
    (
        SearchParam("status", "token", "active | completed | cancelled | draft ..."),
        SearchParam(
            "intent", "token", "order (prescriptions written here and orders imported from elsewhere)"
        ),
        SearchParam("authoredon", "date", DATE_DOC),
        SearchParam("code", "token", f"RxNorm ({mapping.RXNORM_SYSTEM}): {TOKEN_DOC}"),
    ),
)
_register_clinical(
    "MedicationStatement",
    "http://hl7.org/fhir/StructureDefinition/MedicationStatement",
    mapping.medication_statement_to_fhir,
    search.MEDICATION_STATEMENT_PARAMS,
    (SearchParam("status", "token", "active | stopped | completed | entered-in-error"),),
)
_register_clinical(
    "Appointment",
    "http://hl7.org/fhir/StructureDefinition/Appointment",
    mapping.appointment_to_fhir,
    search.APPOINTMENT_PARAMS,
    (
        SearchParam("date", "date", f"Start: {DATE_DOC}"),
        SearchParam("status", "token", "booked | arrived | checked-in | fulfilled | cancelled | noshow"),
    ),
)
_register_clinical(
    "DocumentReference",
    mapping.US_CORE + "us-core-documentreference",
    mapping.note_to_fhir,
    search.DOCUMENT_REFERENCE_PARAMS,
    (
        SearchParam("category", "token", "clinical-note (signed progress notes, addenda included)"),
        SearchParam("type", "token", f"LOINC: [{mapping.LOINC_SYSTEM}|]11506-3"),
        SearchParam("date", "date", f"When signed: {DATE_DOC}"),
        SearchParam("status", "token", "current"),
    ),
)


_register_clinical(
    "Immunization",
    mapping.US_CORE + "us-core-immunization",
    mapping.immunization_to_fhir,
    search.IMMUNIZATION_PARAMS,
    (
        SearchParam("date", "date", f"When given: {DATE_DOC}"),
        SearchParam("status", "token", "completed | not-done | entered-in-error"),
        SearchParam("vaccine-code", "token", f"CVX ({mapping.CVX_SYSTEM}): {TOKEN_DOC}"),
    ),
)


_register_clinical(
    "ServiceRequest",
    mapping.US_CORE + "us-core-servicerequest",
    orders_fhir.service_request_to_fhir,
    orders_fhir.SERVICE_REQUEST_PARAMS,
    (
        SearchParam("status", "token", "active | completed | revoked"),
        SearchParam("code", "token", f"LOINC: [{mapping.LOINC_SYSTEM}|]code"),
        SearchParam("authored", "date", f"When signed: {DATE_DOC}"),
    ),
)


def row_resources(name: str, row) -> list[dict]:
    """The resources one row of `name` gives (a kept resource: itself, whatever its type)."""
    if isinstance(row, fidelity.KeptResource):
        return [fidelity.kept_to_fhir(row)]
    return REGISTRY[name].expand(row)


def served_everything(*, patient, found: dict, with_identifiers: bool = False) -> dict[str, list[dict]]:
    """{type: resources} for $everything and the EHI export, as served (fidelity.serve)."""
    pairs = [(patient, mapping.patient_to_fhir(patient, with_identifiers=with_identifiers))]
    pairs += [(row, res) for name, rows in found.items() for row in rows for res in row_resources(name, row)]
    out: dict[str, list[dict]] = {}
    for res in fidelity.serve(pairs, with_identifiers=with_identifiers):
        out.setdefault(res["resourceType"], []).append(res)
    return out


def everything_bundle(*, patient, found: dict, base: str) -> dict:
    """Patient/$everything: the patient and all their resources in one searchset Bundle."""
    resources = [r for group in served_everything(patient=patient, found=found).values() for r in group]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


# DiagnosticReport: reports filed here (orders.ResultReport) and those kept as received at import
# (fhirapi/diagnostic_report.py), registered in the kept types' place.
def _register_diagnostic_report() -> None:
    _register_clinical(
        "DiagnosticReport",
        mapping.US_CORE + "us-core-diagnosticreport-lab",
        diagnostic_report.to_fhir,
        diagnostic_report.PARAMS,
        (
            SearchParam(
                "status", "token", "preliminary | final | corrected (and the statuses of imported reports)"
            ),
            SearchParam("category", "token", f"{diagnostic_report.V2_0074}|LAB or RAD: {TOKEN_DOC}"),
            SearchParam("code", "token", f"LOINC ({mapping.LOINC_SYSTEM}) of the test or panel: {TOKEN_DOC}"),
            SearchParam("date", "date", f"When the specimen was taken (effectiveDateTime): {DATE_DOC}"),
            SearchParam("based-on", "reference", "The order: ServiceRequest/<id> or <id>"),
        ),
    )


# ---------------------------------------------------------------- kept as received
# Types the product does not model: read, search (patient, _id), $everything and the EHI export serve them as they
# were received (fhirapi/fidelity.py), through the same door as the rest of the clinical record.
for _name in selectors.KEPT_TYPES:
    if _name == "DiagnosticReport":
        _register_diagnostic_report()
        continue
    _register_clinical(
        _name,
        f"http://hl7.org/fhir/StructureDefinition/{_name}",
        fidelity.kept_to_fhir,
        {"_id": search.kept_id},
        (),
    )


# Provenance of API writes (fhirapi/provenance.py) is kept like the other kept types and also found by `target`.
def _provenance_with_target() -> None:
    from dataclasses import replace

    from .provenance import provenance_search

    rt = REGISTRY["Provenance"]
    REGISTRY["Provenance"] = replace(
        rt,
        search=provenance_search(rt.search),
        search_params=(
            *rt.search_params,
            SearchParam(
                "target",
                "reference",
                "What it is the provenance of: Type/id (any version) or Type/id/_history/n",
            ),
        ),
    )


_provenance_with_target()
