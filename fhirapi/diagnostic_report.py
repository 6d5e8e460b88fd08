"""DiagnosticReport (US Core Laboratory / Report and Note) from orders.ResultReport: the mapping, the search
parameters and the two tables behind the type.

A report filed here (an ORU's OBR, or an in-office test) is served from its ResultReport: `basedOn` its order
(ServiceRequest), `result` the laboratory Observations filed with it (encounters.Observation rows carrying its
`report_id`, the struck-out ones of a corrected report included: they are still that report's values). The
Observations are linked from the report (DiagnosticReport.result; Observation.derivedFrom cannot name a report).

DiagnosticReports received in an imported bundle stay kept as received (fhirapi.KeptResource) and are served from
the same type, read and search alike: `status`, `code` and `category` compare the codings as sent, `date` the
`effectiveDateTime` as sent (a full date or instant; anything else never matches a date), `based-on` the
ServiceRequest the sent reference resolves to here.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Case, DateTimeField, ExpressionWrapper, OuterRef, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from . import search, tokens
from .mapping import LOINC_SYSTEM, US_CORE, _clean, _coding, _dt, _ref

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
# orders.TestKind -> DiagnosticReport.category (HL7 v2 table 0074, the US Core binding)
CATEGORY = {"imaging": ("RAD", "Radiology")}
LAB_CATEGORY = ("LAB", "Laboratory")
FILLER_SYSTEM = "urn:openehr:filler-order-number"
STATUSES = {
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
}
OURS = {"preliminary", "final", "corrected"}  # orders.ReportStatus: the same codes
# A kept report's effectiveDateTime that PostgreSQL can read as an instant (a whole date, or a time with a zone).
_FULL_DATE = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$"
KEPT_EFFECTIVE = "fhir_effective"


def _kind(report) -> str:
    order = report.order
    return order.test.kind if order is not None else "lab"


def report_to_fhir(report) -> dict:
    """One filed report. `report.result_ids`: its Observations' ids (annotated by `report_rows`)."""
    kind = _kind(report)
    category = CATEGORY.get(kind, LAB_CATEGORY)
    profile = "us-core-diagnosticreport-note" if kind == "imaging" else "us-core-diagnosticreport-lab"
    order = report.order
    out = {
        "resourceType": "DiagnosticReport",
        "id": str(report.pk),
        "meta": {"profile": [US_CORE + profile], "lastUpdated": _dt(report.filed_at)},
        "identifier": [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "FILL"}]
                },
                "system": FILLER_SYSTEM,
                "value": report.filler_number,
            }
        ]
        if report.filler_number
        else [],
        "basedOn": [_ref("ServiceRequest", report.order_id)] if report.order_id else [],
        "status": report.status,
        "category": [{"coding": [_coding(V2_0074, *category)], "text": category[1]}],
        "code": {
            "coding": [_coding(LOINC_SYSTEM, report.loinc, report.test_name)],
            "text": report.test_name,
        },
        "subject": _ref("Patient", report.patient_id),
        "encounter": _ref("Encounter", order.encounter_id)
        if order is not None and order.encounter_id
        else None,
        "effectiveDateTime": _dt(report.observed_at),
        "issued": _dt(report.filed_at),
        "performer": [{"display": order.lab.name}] if order is not None and order.lab_id else [],
        "result": [_ref("Observation", pk) for pk in report.result_ids or ()],
    }
    return _clean(out)


def to_fhir(row) -> dict:
    from .fidelity import kept_to_fhir
    from .models import KeptResource

    return kept_to_fhir(row) if isinstance(row, KeptResource) else report_to_fhir(row)


# ---------------------------------------------------------------- the rows
def report_rows(qs):
    """Each report with its Observations' ids (one query for a page of reports, whatever their values)."""
    from encounters.models import Observation

    ids = (
        Observation.objects.filter(report_id=OuterRef("pk"))
        .order_by("effective", "display", "pk")
        .values("pk")
    )
    return qs.annotate(result_ids=ArraySubquery(ids))


def kept_rows(qs):
    """Kept reports with their effectiveDateTime as an instant where it is a whole date or a zoned time."""
    sent = KeyTextTransform("effectiveDateTime", "resource")
    return qs.annotate(
        **{
            KEPT_EFFECTIVE: Case(
                When(resource__effectiveDateTime__regex=_FULL_DATE, then=Cast(sent, DateTimeField())),
                default=Value(None, output_field=DateTimeField()),
            )
        }
    )


# ---------------------------------------------------------------- search: filed reports
def _status(value: str) -> Q:
    if value not in STATUSES:
        raise search.SearchError(f"status {value!r} is not a DiagnosticReport status.")
    return Q(status=value) if value in OURS else search.NOTHING


def _category(value: str) -> Q:
    system, code = tokens.split(value)
    if system not in (None, V2_0074):
        return search.NOTHING
    if code == "RAD":
        return Q(order__test__kind="imaging")
    if code == "LAB":
        return ~Q(order__test__kind="imaging")
    return Q() if not code else search.NOTHING


def _based_on(value: str) -> Q:
    try:
        return Q(order_id=uuid.UUID(value.removeprefix("ServiceRequest/")))
    except ValueError:
        return search.NOTHING


def _changed(field: str):
    return lambda v: search.datetime_query(field, v)


REPORT_PARAMS = {
    "_id": search._uuid_id,
    "status": _status,
    "category": _category,
    "code": lambda v: tokens.coded(v, fixed=[(LOINC_SYSTEM, "loinc")]),
    "date": _changed("observed_at"),
    "based-on": _based_on,
    "_lastUpdated": _changed("filed_at"),
}


# ---------------------------------------------------------------- search: reports kept as received
def _kept_coding(element: str, value: str, *, many: bool) -> Q:
    system, code = tokens.split(value)
    coding = {k: v for k, v in (("system", system), ("code", code)) if v}
    if system == "":  # a coding without a system: containment cannot ask for an absent key
        return search.NOTHING
    concept = {"coding": [coding]}
    return Q(**{f"resource__{element}__contains": [concept] if many else concept})


def _kept_status(value: str) -> Q:
    if value not in STATUSES:
        raise search.SearchError(f"status {value!r} is not a DiagnosticReport status.")
    return Q(resource__status=value)


def _kept_based_on(value: str) -> Q:
    """The kept reports whose references resolve here to that ServiceRequest (only basedOn names one)."""
    served = value if value.startswith("ServiceRequest/") else f"ServiceRequest/{value}"
    found = RawSQL(
        'EXISTS (SELECT 1 FROM jsonb_each_text("fhirapi_keptresource"."refs") r WHERE r.value = %s)',
        (served,),
    )
    return Q(ExpressionWrapper(found, output_field=BooleanField()))


KEPT_PARAMS = {
    "_id": search.kept_id,
    "status": _kept_status,
    "category": lambda v: _kept_coding("category", v, many=True),
    "code": lambda v: _kept_coding("code", v, many=False),
    "date": _changed(KEPT_EFFECTIVE),
    "based-on": _kept_based_on,
    "_lastUpdated": _changed("received_at"),
}
PARAMS = (REPORT_PARAMS, KEPT_PARAMS)
SORTS = {
    "_id": ("pk", "pk"),
    "date": ("observed_at", KEPT_EFFECTIVE),
    "_lastUpdated": ("filed_at", "received_at"),
}


def kind():
    """The two tables behind DiagnosticReport (selectors.clinical_kinds): filed reports, then kept ones."""
    from accounts import roles
    from audit import categories
    from orders.models import ResultReport

    from .models import KeptResource
    from .selectors import ClinicalKind, Source

    return ClinicalKind(
        roles.VIEW_CLINICAL,
        categories.RESULTS,
        (
            Source(
                ResultReport,
                ("order__test", "order__lab"),
                ("-observed_at", "pk"),
                when=lambda r: r.observed_at,
                shape=report_rows,
            ),
            Source(
                KeptResource,
                (),
                ("received_at", "pk"),
                only=Q(resource_type="DiagnosticReport"),
                when=lambda r: getattr(r, KEPT_EFFECTIVE, None) or r.received_at,
                shape=kept_rows,
            ),
        ),
    )
