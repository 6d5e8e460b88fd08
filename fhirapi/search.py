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
PAGING_PARAMS = ("_count", "_offset")
NOTHING = Q(pk__in=[])


class SearchError(ValueError):
    pass


def paging(params) -> tuple[int, int]:
    """(_count, _offset): 1 <= _count <= 100 (default 20), _offset >= 0."""
    count = _int(params, "_count", DEFAULT_COUNT)
    offset = _int(params, "_offset", 0)
    if not 1 <= count <= MAX_COUNT:
        raise SearchError(f"_count must be between 1 and {MAX_COUNT}.")
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
        either = NOTHING
        for alt in alternatives:
            either |= one(alt.strip())
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
        q &= _each(params.getlist(key), handlers[name])
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


def date_query(field: str, value: str) -> Q:
    """FHIR date search on a date column: YYYY, YYYY-MM or YYYY-MM-DD, prefixes eq ne gt lt ge le."""
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
