"""`_sort` (FHIR R4 3.1.1.5.3): a comma-separated list of search parameters, each optionally prefixed by `-` for
descending order. Only the parameters listed in SORTS sort; any other is refused (400) rather than ignored, since a
client paging through a silently unsorted set would miss and repeat rows.

Each sort parameter names one column (or expression) per table behind the type: Observation and MedicationRequest
are read from two tables, sorted each by the same keys in the database and merged here by the same keys. Empty
values come last in both directions; ties are broken by the row id, so pages never overlap.
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Coalesce

from .search import SearchError

LAST_UPDATED = "_lastUpdated"
_ID = ("pk",)
_CHANGED = ("updated_at",)


def _kept() -> dict[str, tuple]:
    return {"_id": _ID, LAST_UPDATED: ("received_at",)}


# FHIR type -> {sort parameter: (column or expression of each source table, in the order of selectors' sources)}
SORTS: dict[str, dict[str, tuple]] = {
    "Patient": {
        "_id": _ID,
        "family": ("family_name",),
        "given": ("given_name",),
        "name": ("family_name",),
        "birthdate": ("birth_date",),
        LAST_UPDATED: _CHANGED,
    },
    "Practitioner": {
        "_id": _ID,
        "family": ("user__last_name",),
        "given": ("user__first_name",),
        "name": ("user__last_name",),
    },
    "Encounter": {"_id": _ID, "date": ("start",), LAST_UPDATED: _CHANGED},
    "Condition": {"_id": _ID, "onset-date": ("onset_date",), LAST_UPDATED: _CHANGED},
    "AllergyIntolerance": {"_id": _ID, LAST_UPDATED: _CHANGED},
    # Vital signs (taken_at) and results (effective); ids of vital signs carry a suffix, so no `_id` sort.
    "Observation": {"date": ("taken_at", "effective"), LAST_UPDATED: _CHANGED * 2},
    # Prescriptions written here (authoredOn: signed, else created) and imported orders (authored_at).
    "MedicationRequest": {
        "_id": _ID * 2,
        "authoredon": (Coalesce("signed_at", "created_at"), "authored_at"),
        LAST_UPDATED: _CHANGED * 2,
    },
    "MedicationStatement": {"_id": _ID, LAST_UPDATED: _CHANGED},
    "Immunization": {"_id": _ID, "date": ("occurrence",), LAST_UPDATED: _CHANGED},
    "Appointment": {"_id": _ID, "date": ("start",), LAST_UPDATED: _CHANGED},
    "DocumentReference": {"_id": _ID, "date": ("signed_at",), LAST_UPDATED: _CHANGED},
    "ServiceRequest": {"_id": _ID, "authored": ("signed_at",), LAST_UPDATED: _CHANGED},
    # Reports filed here (observed_at) and kept as received (their effectiveDateTime: diagnostic_report.py).
    "DiagnosticReport": {
        "_id": _ID * 2,
        "date": ("observed_at", "fhir_effective"),
        LAST_UPDATED: ("filed_at", "received_at"),
    },
}


def sorts_of(resource_type: str) -> dict[str, tuple]:
    """The sort parameters of a type (kept types: `_id`, `_lastUpdated`)."""
    return SORTS.get(resource_type) or _kept()


def sort_keys(params, resource_type: str) -> list[tuple[str, bool]]:
    """`_sort` -> [(parameter, descending)]; SearchError for a parameter the type cannot be sorted by."""
    allowed = sorts_of(resource_type)
    keys: list[tuple[str, bool]] = []
    for value in params.getlist("_sort"):
        for part in (p.strip() for p in value.split(",")):
            name = part.removeprefix("-")
            if not name:
                raise SearchError("_sort was given without a parameter name.")
            if name not in allowed:
                raise SearchError(
                    f"_sort: {resource_type} cannot be sorted by {name!r}. Supported: {', '.join(sorted(allowed))}."
                )
            if name in (k for k, _ in keys):
                raise SearchError(f"_sort names {name!r} twice.")
            keys.append((name, part.startswith("-")))
    return keys


def _alias(i: int) -> str:
    return f"fhir_sort_{i}"


def ordered(qs, resource_type: str, source: int, keys: list[tuple[str, bool]]):
    """The rows of one source table ordered by `keys` (empty values last), then by id."""
    columns = sorts_of(resource_type)
    exprs, order = {}, []
    for i, (name, desc) in enumerate(keys):
        col = columns[name][source]
        exprs[_alias(i)] = F(col) if isinstance(col, str) else col
        order.append(F(_alias(i)).desc(nulls_last=True) if desc else F(_alias(i)).asc(nulls_last=True))
    return qs.annotate(**exprs).order_by(*order, "pk")


def merged(rows, keys: list[tuple[str, bool]]) -> list:
    """Rows of several tables, each already `ordered`, in one list with the same order."""
    out = sorted(rows, key=lambda r: r.pk)
    for i, desc in reversed([(i, desc) for i, (_, desc) in enumerate(keys)]):
        alias = _alias(i)
        if desc:  # reverse=True keeps the sort stable; (False, None) puts empty values after the rest
            out.sort(key=lambda r, a=alias: (getattr(r, a) is not None, getattr(r, a)), reverse=True)
        else:
            out.sort(key=lambda r, a=alias: (getattr(r, a) is None, getattr(r, a)))
    return out
