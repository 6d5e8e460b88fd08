"""FHIR search parameters -> Q objects. Pure parsing: bad values raise SearchError (a 400 OperationOutcome).

Rules kept (FHIR R4 3.1.1): repeated parameters are ANDed, comma-separated values within one are ORed; string
parameters match the start of a word, case-insensitively (`name` also ignores accents: it searches the
normalised name_search column; family and given compare the stored spelling). Unknown parameters and modifiers are
refused rather than ignored: silently dropping a filter would return more patients than the client asked for.
"""

from __future__ import annotations

import calendar
import re
import uuid
from datetime import date

from django.db.models import Q

from patients.selectors import normalise_name

from .mapping import MRN_SYSTEM, NPI_SYSTEM

MAX_COUNT = 100
DEFAULT_COUNT = 20
# Result parameters: paging, order and the shape of the answer (views.resource_search, sorting.py, includes.py),
# not filters.
PAGING_PARAMS = (
    "_count",
    "_offset",
    "_summary",
    "_elements",
    "_sort",
    "_include",
    "_revinclude",
    "_total",
    "_totalMethod",
)
NOTHING = Q(pk__in=[])


class SearchError(ValueError):
    pass


def paging(params) -> tuple[int, int]:
    """(_count, _offset): 0 <= _count <= 100 (default 20; 0 and `_summary=count` give the total alone),
    _offset >= 0."""
    count = _int(params, "_count", DEFAULT_COUNT)
    offset = _int(params, "_offset", 0)
    summary = params.get("_summary")
    if summary not in (None, "", "count", "false"):
        raise SearchError(f"_summary={summary} is not supported (count, false).")
    if summary == "count":
        count = 0
    # The total is always counted exactly: `_total` (FHIR) and `_totalMethod` (sent by fhirpy's .count()) are
    # accepted with the values that ask for no more than that.
    for name, allowed in (
        ("_total", ("none", "estimate", "accurate")),
        ("_totalMethod", ("count", "estimate")),
    ):
        if params.get(name) not in (None, "", *allowed):
            raise SearchError(f"{name}={params.get(name)} is not supported ({', '.join(allowed)}).")
    if not 0 <= count <= MAX_COUNT:
        raise SearchError(f"_count must be between 0 and {MAX_COUNT}.")
    if offset < 0:
        raise SearchError("_offset must not be negative.")
    return count, offset


def _int(params, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise SearchError(f"{name} must be a whole number, not {value!r}.") from None


def _each(values: list[str], one) -> Q:
    """AND over repeated parameters, OR over comma-separated values."""
    q = Q()
    for value in values:
        alternatives = [v for v in value.split(",")]
        if not any(v.strip() for v in alternatives):
            raise SearchError("A search parameter was given without a value.")
        # An empty Q() means "no restriction"; Django's Q | Q() keeps only the left side, so it is checked here.
        parts = [one(alt.strip()) for alt in alternatives]
        if any(not part for part in parts):
            continue
        either = parts[0]
        for part in parts[1:]:
            either |= part
        q &= either
    return q


def filters_from(params, handlers: dict) -> Q:
    """Combine the handlers' Q objects for every parameter in `params` (a QueryDict)."""
    q = Q()
    for key in params:
        if key in PAGING_PARAMS:
            continue
        name, _, modifier = key.partition(":")
        if name not in handlers:
            raise SearchError(
                f"Unknown search parameter {name!r}. Supported: {', '.join(sorted(handlers))}, "
                f"{', '.join(PAGING_PARAMS)}."
            )
        if modifier:
            raise SearchError(f"The modifier :{modifier} is not supported on {name!r}.")
        try:
            q &= _each(params.getlist(key), handlers[name])
        except SearchError as e:  # the diagnostics name the parameter
            raise SearchError(str(e) if str(e).startswith(name) else f"{name}: {e}") from None
    return q


# ---------------------------------------------------------------- value parsers
def _words(value: str) -> list[str]:
    words = normalise_name(value).split()
    if not words:
        raise SearchError(f"{value!r} has no letters or digits to search for.")
    return words


def _word_start(field: str, word: str) -> Q:
    """`word` starts a word of the normalised (lower-case, accent-free, space-separated) text in `field`."""
    return Q(**{f"{field}__startswith": word}) | Q(**{f"{field}__contains": f" {word}"})


_DATE_RE = re.compile(r"^(eq|ne|gt|lt|ge|le)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME_RE = re.compile(
    r"^(eq|ne|gt|lt|ge|le)?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))$"
)


def _instant_range(value: str):
    """A FHIR dateTime with a time and a zone -> (prefix, start, end): the second (or minute) it names."""
    from datetime import datetime, timedelta

    m = _DATETIME_RE.match(value)
    if not m:
        return None
    try:
        start = datetime.fromisoformat(m.group(2).replace("Z", "+00:00"))
    except ValueError:
        raise SearchError(f"{value!r} is not a valid dateTime.") from None
    clock = re.split(r"[Z+-]", m.group(2).split("T", 1)[1])[0]
    seconds = clock.count(":") == 2
    return m.group(1) or "eq", start, start + timedelta(seconds=1 if seconds else 60)


def _compare(field: str, prefix: str, start, end, *, end_open: bool) -> Q:
    """The FHIR prefixes against the range [start, end] (or [start, end) for instants)."""
    within = Q(**{f"{field}__gte": start}) & Q(**{f"{field}__{'lt' if end_open else 'lte'}": end})
    return {
        "eq": within,
        "ne": ~within,
        "gt": Q(**{f"{field}__{'gte' if end_open else 'gt'}": end}),
        "lt": Q(**{f"{field}__lt": start}),
        "ge": Q(**{f"{field}__gte": start}),
        "le": Q(**{f"{field}__{'lt' if end_open else 'lte'}": end}),
    }[prefix]


def date_query(field: str, value: str) -> Q:
    """FHIR date search on a date column: YYYY, YYYY-MM or YYYY-MM-DD (or a dateTime: its date, in its own zone),
    prefixes eq ne gt lt ge le."""
    if _DATETIME_RE.match(value):
        value = value.split("T", 1)[0]  # the prefix stays in front
    m = _DATE_RE.match(value)
    if not m:
        raise SearchError(
            f"{value!r} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD, optionally prefixed by "
            "eq, ne, gt, lt, ge or le)."
        )
    prefix, year, month, day = m.group(1) or "eq", int(m.group(2)), m.group(3), m.group(4)
    try:
        if day:
            start = end = date(year, int(month), int(day))
        elif month:
            start = date(year, int(month), 1)
            end = start.replace(day=calendar.monthrange(year, int(month))[1])
        else:
            start, end = date(year, 1, 1), date(year, 12, 31)
    except ValueError:
        raise SearchError(f"{value!r} is not a valid calendar date.") from None
    # The value is a range [start, end] (a year, a month or a day); the prefixes compare against it (3.1.1.4.3).
    return {
        "eq": Q(**{f"{field}__range": (start, end)}),
        "ne": ~Q(**{f"{field}__range": (start, end)}),
        "gt": Q(**{f"{field}__gt": end}),
        "lt": Q(**{f"{field}__lt": start}),
        "ge": Q(**{f"{field}__gte": start}),
        "le": Q(**{f"{field}__lte": end}),
    }[prefix]


def _token(value: str, system: str) -> tuple[bool, str]:
    """Split `[system|]code`; False when the system is some other one (which then matches nothing)."""
    if "|" in value:
        sys_, _, code = value.partition("|")
        return sys_ in ("", system), code
    return True, value


def _uuid_or_nothing(value: str) -> Q:
    try:
        return Q(pk=uuid.UUID(value))
    except ValueError:
        return NOTHING


# ---------------------------------------------------------------- Patient (US Core Patient search parameters)
def _patient_name(value: str) -> Q:
    q = Q()
    # Every word of the value must start some word of some name (current, preferred, previous).
    for w in _words(value):
        q &= _word_start("name_search", w)
    return q


def _patient_family(value: str) -> Q:
    return Q(family_name__istartswith=value)


def _patient_given(value: str) -> Q:
    return (
        Q(given_name__istartswith=value)
        | Q(middle_name__istartswith=value)
        | Q(preferred_name__istartswith=value)
    )


def _patient_identifier(value: str) -> Q:
    ours, code = _token(value, MRN_SYSTEM)
    if not ours:
        return NOTHING
    return Q(mrn=code) if code else Q()


def _patient_gender(value: str) -> Q:
    if value == "female":
        return Q(sex_at_birth="F")
    if value == "male":
        return Q(sex_at_birth="M")
    if value == "unknown":
        return ~Q(sex_at_birth__in=["F", "M"])
    if value == "other":
        return NOTHING  # never produced: gender is derived from sex at birth
    raise SearchError(f"gender must be one of male, female, other, unknown, not {value!r}.")


PATIENT_PARAMS = {
    "_id": _uuid_or_nothing,
    "name": _patient_name,
    "family": _patient_family,
    "given": _patient_given,
    "birthdate": lambda v: date_query("birth_date", v),
    "identifier": _patient_identifier,
    "gender": _patient_gender,
}


# ---------------------------------------------------------------- Practitioner
def _practitioner_name(value: str) -> Q:
    q = Q()
    for w in _words(value):
        q &= Q(user__first_name__istartswith=w) | Q(user__last_name__istartswith=w)
    return q


def _practitioner_identifier(value: str) -> Q:
    ours, code = _token(value, NPI_SYSTEM)
    if not ours:
        return NOTHING
    return Q(npi=code) if code else Q()


def _practitioner_id(value: str) -> Q:
    return Q(pk=int(value)) if value.isdigit() else NOTHING


PRACTITIONER_PARAMS = {
    "_id": _practitioner_id,
    "name": _practitioner_name,
    "family": lambda v: Q(user__last_name__istartswith=v),
    "given": lambda v: Q(user__first_name__istartswith=v),
    "identifier": _practitioner_identifier,
}


# ====================================================================== clinical resources (US Core search)
def datetime_query(field: str, value: str) -> Q:
    """`date` parameters on a timestamp column: a date is compared on the calendar day in the server's time zone,
    a dateTime with a time and zone on the instant (to the second or minute it names)."""
    found = _instant_range(value)
    if found:
        return _compare(field, *found, end_open=True)
    return date_query(f"{field}__date", value)


def patient_refs(params) -> list[str] | None:
    """The ids named by `patient` or `subject` (`<id>` or `Patient/<id>`, comma = OR); None when both are absent.
    Repeating the parameter ANDs: only ids named by every occurrence remain."""
    values = params.getlist("patient") + params.getlist("subject")
    if not values:
        return None
    wanted = None
    for value in values:
        ids = {v.strip().removeprefix("Patient/") for v in value.split(",") if v.strip()}
        if not ids:
            raise SearchError("patient was given without a value.")
        wanted = ids if wanted is None else wanted & ids
    return sorted(wanted)


def _uuid_id(value: str) -> Q:
    return _uuid_or_nothing(value)


def _reverse(mapping: dict, value: str, name: str, allowed: set[str] | None = None) -> Q:
    """FHIR code -> our statuses that map to it (several of ours may share one FHIR code)."""
    ours = [k for k, v in mapping.items() if v == value]
    if not ours and (allowed is None or value not in allowed):
        raise SearchError(f"{name} {value!r} is not a supported value.")
    return Q(**{f"{name}__in": ours}) if ours else NOTHING


def _system_code(value: str, system: str) -> str | None:
    ours, code = _token(value, system)
    return code if ours else None


def _encounter_class(value: str) -> Q:
    from .mapping import ACT_CODE, ENCOUNTER_CLASS

    code = _system_code(value, ACT_CODE)
    virtual = list(ENCOUNTER_CLASS)
    if code == "VR":
        return Q(encounter_type__in=virtual)
    if code == "AMB":
        return ~Q(encounter_type__in=virtual)
    return NOTHING


def _encounter_type(value: str) -> Q:
    from .mapping import ENCOUNTER_TYPE_SYSTEM

    code = _system_code(value, ENCOUNTER_TYPE_SYSTEM)
    return Q(encounter_type=code) if code else NOTHING


def _encounter_status(value: str) -> Q:
    from .mapping import ENCOUNTER_STATUS

    ours = [k for k, v in ENCOUNTER_STATUS.items() if v == value]
    if not ours and value not in {"arrived", "triaged", "onleave", "entered-in-error", "unknown"}:
        raise SearchError(f"status {value!r} is not an Encounter status.")
    return Q(status__in=ours) if ours else NOTHING


ENCOUNTER_PARAMS = {
    "_id": _uuid_id,
    "date": lambda v: datetime_query("start", v),
    "status": _encounter_status,
    "class": _encounter_class,
    "type": _encounter_type,
}

CLINICAL_STATUSES = {"active", "inactive", "resolved", "recurrence", "relapse", "remission"}


def _clinical_status(value: str) -> Q:
    code = value.partition("|")[2] if "|" in value else value
    if code not in CLINICAL_STATUSES:
        raise SearchError(f"clinical-status {value!r} is not a clinical status code.")
    return Q(status=code) if code in ("active", "inactive", "resolved") else NOTHING


def _condition_category(value: str) -> Q:
    from .mapping import CONDITION_CATEGORY

    return Q() if _system_code(value, CONDITION_CATEGORY) == "problem-list-item" else NOTHING


def _condition_code(value: str) -> Q:
    from .mapping import ICD10CM_SYSTEM

    if "|" not in value:  # any code system: ICD-10-CM, or the coding an import kept (SNOMED CT ...)
        return Q(code_id=value) | Q(code_value=value)
    system, _, code = value.partition("|")
    if system in ("", ICD10CM_SYSTEM):
        either = Q(code_id=code) | Q(code_system=ICD10CM_SYSTEM, code_value=code)
        return either | Q(code_value=code) if not system else either
    return Q(code_system=system, code_value=code)


CONDITION_PARAMS = {
    "_id": _uuid_id,
    "clinical-status": _clinical_status,
    "category": _condition_category,
    "code": _condition_code,
    "onset-date": lambda v: date_query("onset_date", v),
}

ALLERGY_PARAMS = {"_id": _uuid_id, "clinical-status": _clinical_status}


def observation_suffixes(value: str) -> set[str]:
    """The vital-sign observations a `code` value names (LOINC)."""
    from .mapping import LOINC_SYSTEM, VITAL_CODE_SUFFIX

    code = _system_code(value, LOINC_SYSTEM)
    return {VITAL_CODE_SUFFIX[code]} if code in VITAL_CODE_SUFFIX else set()


def _observation_code(value: str) -> Q:
    from .mapping import VITAL_FIELDS_BY_SUFFIX

    q = NOTHING
    for suffix in observation_suffixes(value):
        for field in VITAL_FIELDS_BY_SUFFIX[suffix]:
            q |= Q(**{f"{field}__isnull": False})
    return q


def _observation_category(value: str) -> Q:
    from .mapping import OBSERVATION_CATEGORY

    # Only vital signs are modelled: every other category is a valid question with no answer.
    return Q() if _system_code(value, OBSERVATION_CATEGORY) == "vital-signs" else NOTHING


def _observation_id(value: str) -> Q:
    row, _, suffix = value.rpartition("-")
    from .mapping import VITAL_SUFFIXES

    return _uuid_or_nothing(row) if suffix in VITAL_SUFFIXES else NOTHING


OBSERVATION_PARAMS = {
    "_id": _observation_id,
    "category": _observation_category,
    "code": _observation_code,
    "date": lambda v: datetime_query("taken_at", v),
}


def _rx_status(value: str) -> Q:
    from .mapping import RX_STATUS

    if value == "active":
        return ~Q(status__in=list(RX_STATUS)) | Q(status__in=["error", "needs_attention"])
    return _reverse(
        RX_STATUS,
        value,
        "status",
        {"on-hold", "entered-in-error", "stopped", "draft", "unknown", "completed", "cancelled"},
    )


MEDICATION_REQUEST_PARAMS = {
    "_id": _uuid_id,
    "status": _rx_status,
    "intent": lambda v: Q() if v == "order" else NOTHING,
    "authoredon": lambda v: datetime_query("created_at", v),
}


def _statement_status(value: str) -> Q:
    if value not in {
        "active",
        "completed",
        "entered-in-error",
        "intended",
        "stopped",
        "on-hold",
        "unknown",
        "not-taken",
    }:
        raise SearchError(f"status {value!r} is not a MedicationStatement status.")
    return Q(status=value)


MEDICATION_STATEMENT_PARAMS = {"_id": _uuid_id, "status": _statement_status}


def _appointment_status(value: str) -> Q:
    from .mapping import APPOINTMENT_STATUS

    return _reverse(
        APPOINTMENT_STATUS, value, "status", {"proposed", "pending", "entered-in-error", "waitlist"}
    )


APPOINTMENT_PARAMS = {
    "_id": _uuid_id,
    "date": lambda v: datetime_query("start", v),
    "status": _appointment_status,
}


def _docref_type(value: str) -> Q:
    from .mapping import LOINC_SYSTEM

    return Q() if _system_code(value, LOINC_SYSTEM) == "11506-3" else NOTHING


def _docref_category(value: str) -> Q:
    code = value.partition("|")[2] if "|" in value else value
    return Q() if code == "clinical-note" else NOTHING


DOCUMENT_REFERENCE_PARAMS = {
    "_id": _uuid_id,
    "category": _docref_category,
    "type": _docref_type,
    "date": lambda v: datetime_query("signed_at", v),
    "status": lambda v: Q() if v == "current" else NOTHING,
}


# ---------------------------------------------------------------- results (Observation rows other than vital signs)
def _result_category(value: str) -> Q:
    from .mapping import OBSERVATION_CATEGORY

    code = _system_code(value, OBSERVATION_CATEGORY)
    return Q(category=code) if code else NOTHING


def _result_code(value: str) -> Q:
    from .mapping import LOINC_SYSTEM

    code = _system_code(value, LOINC_SYSTEM)
    return Q(loinc_code=code) if code else NOTHING


def _result_id(value: str) -> Q:
    # Vital-sign ids carry a measurement suffix; a result's id is its row's.
    row, _, suffix = value.rpartition("-")
    from .mapping import VITAL_SUFFIXES

    return NOTHING if suffix in VITAL_SUFFIXES else _uuid_or_nothing(value)


RESULT_PARAMS = {
    "_id": _result_id,
    "category": _result_category,
    "code": _result_code,
    "date": lambda v: datetime_query("effective", v),
}

ORDER_STATUSES = {
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
}


def _imported_order_status(value: str) -> Q:
    if value not in ORDER_STATUSES:
        raise SearchError(f"status {value!r} is not a MedicationRequest status.")
    return Q(status=value)


IMPORTED_ORDER_PARAMS = {
    "_id": _uuid_id,
    "status": _imported_order_status,
    "intent": lambda v: Q() if v == "order" else NOTHING,
    "authoredon": lambda v: datetime_query("authored_at", v),
}


def _immunization_status(value: str) -> Q:
    if value not in ("completed", "not-done", "entered-in-error"):
        raise SearchError(f"status {value!r} is not an Immunization status.")
    return Q(status=value)


def _vaccine_code(value: str) -> Q:
    from .mapping import CVX_SYSTEM

    code = _system_code(value, CVX_SYSTEM)
    return Q(vaccine_code=code) if code else NOTHING


IMMUNIZATION_PARAMS = {
    "_id": _uuid_id,
    "date": lambda v: datetime_query("occurrence", v),
    "status": _immunization_status,
    "vaccine-code": _vaccine_code,
}


# Kept resources (types the product does not model): their id is ours, a UUID.
kept_id = _uuid_or_nothing


SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
MANDATORY = {"resourceType", "id", "meta"}


def elements(params, resources: list[dict]) -> list[dict]:
    """`_elements=a,b`: each resource with only those top-level elements (and the mandatory ones), marked
    SUBSETTED in meta.tag (FHIR R4 3.1.1.5.9)."""
    value = params.get("_elements")
    if not value:
        return resources
    wanted = {v.strip() for v in value.split(",") if v.strip()}
    if not wanted or any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", w) for w in wanted):
        raise SearchError("_elements takes a comma-separated list of element names.")
    out = []
    for r in resources:
        subset = {k: v for k, v in r.items() if k in wanted | MANDATORY}
        meta = dict(subset.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), SUBSETTED]
        subset["meta"] = meta
        out.append(subset)
    return out
