"""`_include` and `_revinclude` (FHIR R4 3.1.1.5.4): the resources a page of matches refers to, or that refer to
it, in the same searchset with `search.mode = include`.

Only the pairs listed in INCLUDES and REVINCLUDES are served; any other value is refused (400) rather than
ignored. `:iterate` is not supported. An included type the token has no scope for is left out (as the type itself
would be refused). The references are read from the matches as served (ours, or the resource as received with its
references resolved to ours), so what is included is what the client sees referred to. One query per included
type, whatever the number of matches (selectors_include.py).
"""

from __future__ import annotations

from .auth import AuthError, grant_for
from .search import SearchError

# FHIR type -> {search parameter: (element path of the reference in the resource, target type; None = any)}
_SUBJECT = ("subject", "Patient")
_ENCOUNTER = ("encounter", "Encounter")
INCLUDES: dict[str, dict[str, tuple[str, str | None]]] = {
    "Encounter": {
        "patient": _SUBJECT,
        "subject": _SUBJECT,
        "practitioner": ("participant.individual", "Practitioner"),
        "participant": ("participant.individual", "Practitioner"),
    },
    "Condition": {"patient": _SUBJECT, "subject": _SUBJECT, "encounter": _ENCOUNTER},
    "AllergyIntolerance": {"patient": ("patient", "Patient")},
    "Observation": {"patient": _SUBJECT, "subject": _SUBJECT, "encounter": _ENCOUNTER},
    "MedicationRequest": {
        "patient": _SUBJECT,
        "subject": _SUBJECT,
        "encounter": _ENCOUNTER,
        "requester": ("requester", "Practitioner"),
        "medication": ("medicationReference", "Medication"),
    },
    "MedicationStatement": {"patient": _SUBJECT, "subject": _SUBJECT},
    "Immunization": {"patient": ("patient", "Patient"), "performer": ("performer.actor", "Practitioner")},
    "Appointment": {
        "patient": ("participant.actor", "Patient"),
        "practitioner": ("participant.actor", "Practitioner"),
        "actor": ("participant.actor", None),
    },
    "DocumentReference": {
        "patient": _SUBJECT,
        "subject": _SUBJECT,
        "encounter": ("context.encounter", "Encounter"),
        "author": ("author", "Practitioner"),
    },
}
# Provenance kept as received (an import's), whose `target` names a match: offered on every type but Practitioner.
REVINCLUDES = ("Provenance:target",)
# Types an include may reach (Medication: kept as received).
FETCHABLE = {"Patient", "Practitioner", "Encounter", "Medication"}


def revincludes_of(resource_type: str) -> tuple[str, ...]:
    return () if resource_type == "Practitioner" else REVINCLUDES


def requested(params, resource_type: str) -> tuple[list[tuple[str, str | None]], bool]:
    """(the (path, target) of each `_include`, whether `_revinclude=Provenance:target` was asked); SearchError for
    any other value."""
    for key in params:
        if key.startswith(("_include:", "_revinclude:")):
            raise SearchError(f"{key}: the modifier is not supported (no :iterate).")
    allowed = INCLUDES.get(resource_type, {})
    includes = []
    for value in params.getlist("_include"):
        source, _, rest = value.partition(":")
        param, _, target = rest.partition(":")
        if source != resource_type or param not in allowed:
            supported = ", ".join(f"{resource_type}:{p}" for p in allowed) or "none"
            raise SearchError(
                f"_include={value!r} is not supported on {resource_type} (supported: {supported})."
            )
        path, declared = allowed[param]
        if (
            target
            and target != declared
            and (declared is not None or target not in ("Patient", "Practitioner"))
        ):
            raise SearchError(
                f"_include={value!r}: {resource_type}:{param} refers to {declared or 'Patient'}."
            )
        includes.append((path, target or declared))
    provenance = False
    for value in params.getlist("_revinclude"):
        if value not in revincludes_of(resource_type) and value != f"Provenance:target:{resource_type}":
            supported = ", ".join(revincludes_of(resource_type)) or "none"
            raise SearchError(
                f"_revinclude={value!r} is not supported on {resource_type} (supported: {supported})."
            )
        provenance = True
    return includes, provenance


def _references(item, path: list[str]):
    """The `reference` strings at `path` (lists are walked)."""
    if isinstance(item, list):
        for x in item:
            yield from _references(x, path)
    elif isinstance(item, dict):
        if not path:
            ref = item.get("reference")
            if isinstance(ref, str):
                yield ref
        else:
            yield from _references(item.get(path[0]), path[1:])


def _patients_of(matches: list[dict]) -> set[str]:
    """The patients whose data the matches are (their subject, patient or participant)."""
    out = set()
    for res in matches:
        if res.get("resourceType") == "Patient":
            out.add(res["id"])
        for path in ("subject", "patient", "participant.actor"):
            for ref in _references(res, path.split(".")):
                kind, _, rid = ref.partition("/")
                if kind == "Patient" and rid:
                    out.add(rid)
    return out


def _wanted(matches, includes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for res in matches:
        for path, target in includes:
            for ref in _references(res, path.split(".")):
                kind, _, rid = ref.partition("/")
                if rid and "/" not in rid and kind in FETCHABLE and (target is None or kind == target):
                    out.setdefault(kind, set()).add(rid)
    return out


def included(*, ctx, request, resource_type: str, params, matches: list[dict]) -> list[dict]:
    """The resources `_include` / `_revinclude` add to a page of `matches` (none twice, none that is a match)."""
    includes, provenance = requested(params, resource_type)
    if not matches or not (includes or provenance):
        return []
    patients = _patients_of(matches)
    found = []
    for kind, ids in sorted(_wanted(matches, includes).items()):
        found += _fetch(ctx, request, kind, ids, patients)
    if provenance:
        targets = {f"{r['resourceType']}/{r['id']}" for r in matches}
        found += [
            p
            for p in _fetch(ctx, request, "Provenance", None, patients)
            if targets.intersection(_references(p, ["target"]))
        ]
    seen = {(r["resourceType"], r["id"]) for r in matches}
    out = []
    for res in found:
        if (res["resourceType"], res["id"]) not in seen:
            seen.add((res["resourceType"], res["id"]))
            out.append(res)
    return out


def _fetch(ctx, request, kind: str, ids, patients) -> list[dict]:
    from . import fidelity, mapping
    from .resources import row_resources
    from .selectors_include import included_patients, included_practitioners, included_rows

    try:
        grant = grant_for(ctx, kind)
    except AuthError:
        return []  # no scope for the type: left out, as a search of it would be refused
    if kind == "Patient":
        rows = included_patients(
            actor=grant.actor, ids=ids, launch_patient_id=grant.patient_id, request=request
        )
        return fidelity.serve([(p, mapping.patient_to_fhir(p)) for p in rows])
    if kind == "Practitioner":
        return [mapping.practitioner_to_fhir(p) for p in included_practitioners(ids=ids)]
    rows = included_rows(
        resource_type=kind,
        actor=grant.actor,
        ids=ids,
        patient_ids=patients,
        launch_patient_id=grant.patient_id,
        request=request,
        param="_revinclude" if ids is None else "_include",
    )
    return fidelity.serve([(row, res) for row in rows for res in row_resources(kind, row)])
