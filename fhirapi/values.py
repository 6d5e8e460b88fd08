"""Values and references of inbound FHIR resources: pure parsing, no queries (fhirapi/importing.py uses them).

A value that cannot be used raises Invalid; the importer reports it for its entry (an OperationOutcome issue) and
keeps that resource as it was received.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_datetime

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_TAIL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_CONDITIONAL = re.compile(r"^([A-Z][A-Za-z]+)\?identifier=(?:([^|&]*)\|)?([^&]+)$")


class Invalid(ValueError):
    """A value inside one resource is unusable; the importer reports it for that entry."""


# ---------------------------------------------------------------- values
def instant(value, what: str) -> datetime:
    """A FHIR dateTime / instant. A date without a time is midnight in the clinic's zone."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"{what} is missing or not a string")
    dt = parse_datetime(value)
    if dt is None:
        dt = datetime.combine(date_of(value, what), time.min)
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, timezone.get_current_timezone())
    return dt


def date_of(value, what: str) -> date:
    """A FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) or the date part of a dateTime; partial dates take the first day."""
    m = _PARTIAL_DATE.match(value) if isinstance(value, str) else None
    if not m:
        raise Invalid(f"{what} {value!r} is not a FHIR date")
    try:
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        raise Invalid(f"{what} {value!r} is not a calendar date") from None


def optional(fn, value, what: str):
    return None if value in (None, "") else fn(value, what)


def decimal_of(value, what: str) -> Decimal:
    """A JSON number as the Decimal of its shortest repr (1.405 stays 1.405, never a binary approximation)."""
    if isinstance(value, bool):
        raise Invalid(f"{what} {value!r} is not a number")
    try:
        d = Decimal(repr(value) if isinstance(value, float) else str(value))
    except (InvalidOperation, ValueError):
        raise Invalid(f"{what} {value!r} is not a number") from None
    if not d.is_finite():
        raise Invalid(f"{what} {value!r} is not a number")
    return d


def codings(concept) -> list[dict]:
    if concept is None:
        return []
    if not isinstance(concept, dict):
        raise Invalid("a CodeableConcept is not an object")
    found = concept.get("coding") or []
    if not isinstance(found, list):
        raise Invalid("CodeableConcept.coding is not a list")
    return [c for c in found if isinstance(c, dict)]


def code_in(concept, system: str) -> dict | None:
    return next((c for c in codings(concept) if c.get("system") == system and c.get("code")), None)


def first_code(concept) -> dict | None:
    return next((c for c in codings(concept) if c.get("code")), None)


def text_of(concept) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    first = first_code(concept)
    return str(first.get("display") or first.get("code")) if first else ""


def clip(value: str, n: int) -> str:
    return (value or "").strip()[:n]


# ---------------------------------------------------------------- references
def references_in(node) -> list[str]:
    """Every Reference.reference string anywhere in a resource (contained resources included). Parsed JSON holds
    plain dicts and lists only, so exact type checks do (this walk is a hot spot of the import)."""
    out: list[str] = []

    def walk(item) -> None:
        if type(item) is dict:
            ref = item.get("reference")
            if type(ref) is str:
                out.append(ref)
            values = item.values()
        else:
            values = item
        for v in values:
            t = type(v)
            if t is dict or t is list:
                walk(v)

    if type(node) is dict or type(node) is list:
        walk(node)
    return out


class Refs:
    """Resolves the references of one bundle: "urn:uuid:...", "Type/id", absolute ".../Type/id", conditional
    "Type?identifier=system|value" (against the bundle's resources) and "#id" (a contained resource)."""

    def __init__(self):
        self.by_url: dict[str, str] = {}
        self.keys: set[str] = set()
        self.resources: dict[str, dict] = {}
        self.by_identifier: dict[tuple, str] = {}

    def add(self, full_url: str | None, key: str, resource: dict) -> None:
        self.keys.add(key)
        self.resources[key] = resource
        if full_url:
            self.by_url[full_url] = key
        self.by_url[key] = key
        rtype = key.split("/", 1)[0]
        for ident in resource.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("value"):
                self.by_identifier.setdefault((rtype, ident.get("system") or "", ident["value"]), key)
                self.by_identifier.setdefault((rtype, None, ident["value"]), key)

    def resolve(self, value: str) -> str | None:
        """The bundle key a reference string names, or None (outside the bundle, contained, or unknown)."""
        key = self.by_url.get(value)
        if key is not None:
            return key
        m = _CONDITIONAL.match(value)
        if m:
            system = m.group(2) if m.group(2) is not None else None
            return self.by_identifier.get((m.group(1), system, m.group(3)))
        m = _TAIL.search(value)
        if m and f"{m.group(1)}/{m.group(2)}" in self.keys:
            return f"{m.group(1)}/{m.group(2)}"
        return None

    def key(self, ref, what: str, *, want: str | None = None, required: bool = True) -> str | None:
        """The bundle key of a Reference. An optional reference that points outside the bundle is no error: the
        resource keeps it as it was sent (the kept original)."""
        value = ref.get("reference") if isinstance(ref, dict) else None
        if not value:
            if required:
                raise Invalid(f"{what} is missing" if ref is None else f"{what} has no reference")
            return None
        key = self.resolve(value)
        if key is None:
            if required:
                raise Invalid(f"{what} {value!r} does not resolve to a resource in this bundle")
            return None
        if want and not key.startswith(want + "/"):
            raise Invalid(f"{what} {value!r} is a {key.split('/')[0]}, not a {want}")
        return key

    def resource(self, ref, container: dict, what: str, *, want: str) -> dict:
        """The resource a Reference names: contained ("#id") or in the bundle."""
        value = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(value, str) and value.startswith("#"):
            found = next(
                (
                    c
                    for c in container.get("contained") or []
                    if isinstance(c, dict) and c.get("id") == value[1:]
                ),
                None,
            )
            if found is None or found.get("resourceType") != want:
                raise Invalid(f"{what} {value!r} names no contained {want}")
            return found
        return self.resources[self.key(ref, what, want=want)]

    def served(self, resource: dict, served_ids: dict[str, str]) -> dict[str, str]:
        """{reference as sent: "Type/our id"} for the references of `resource` that resolve to a stored resource."""
        out = {}
        for value in references_in(resource):
            key = self.resolve(value)
            if key is not None and key in served_ids:
                out[value] = served_ids[key]
        return out
