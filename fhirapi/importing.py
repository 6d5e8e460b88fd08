"""FHIR R4 bundles -> rows in our vocabulary. Pure parsing: no queries, no writes (fhirapi/services.py writes).

Nothing is lost: every resource of a bundle is either parsed into the product's terms (fhirapi/parsers.py, the types
the product models) or kept as it was received (KeptResource: the types it does not model, and any resource whose
values cannot be used, with an OperationOutcome issue for that entry). Only a problem with the bundle itself or with
its Patient refuses the whole bundle (BundleRefused). Every resource's JSON as received is kept with it, so the API
can serve it back unchanged (fhirapi/fidelity.py).

The inverse direction (our rows -> FHIR) is fhirapi/mapping.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .parsers import PARSERS
from .values import FHIR_ID, Invalid, Refs

# Elements every resource has that carry no clinical content of ours.
BOOKKEEPING = {"resourceType", "id", "meta", "text"}
BUNDLE_TYPES = ("transaction", "batch", "collection", "searchset", "document")
# Where each type names its patient (the first that resolves to a Patient of the bundle).
PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")


class BundleRefused(Exception):
    """The bundle cannot be imported; nothing of it is written."""

    def __init__(self, reason: str, *, entry: int | None = None, resource: str = ""):
        self.reason, self.entry, self.resource = reason, entry, resource
        where = f"entry {entry}" if entry is not None else "bundle"
        super().__init__(f"{where}{f' ({resource})' if resource else ''}: {reason}")


@dataclass
class Row:
    """One resource parsed into our terms. `refs` name other resources by their bundle key ("Type/id")."""

    resource_type: str
    key: str  # "Type/id" in the bundle
    source_id: str  # the id the sending system gave it
    patient_key: str | None
    fields: dict
    refs: dict = field(default_factory=dict)
    entry: int = 0


@dataclass
class Kept:
    """A resource kept as it was received (a type the product does not model, or values it could not use)."""

    resource_type: str
    key: str
    source_id: str
    patient_key: str | None
    entry: int
    also_mapped: bool = False  # a Practitioner: a user record here, and kept as received


@dataclass
class ParsedBundle:
    rows: dict[str, list[Row]] = field(default_factory=dict)  # our kind -> rows
    kept: list[Kept] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)  # OperationOutcome.issue, one or more per troubled entry
    refs: Refs = field(default_factory=Refs)  # also holds every resource as received, by bundle key
    not_modelled: Counter = field(default_factory=Counter)  # FHIR type -> resources kept as received
    dropped_elements: Counter = field(
        default_factory=Counter
    )  # "Type.element" -> not in the product's columns

    def add(self, kind: str, row: Row) -> None:
        self.rows.setdefault(kind, []).append(row)

    def count(self) -> int:
        """Every resource of the bundle that is stored (mapped or kept)."""
        return sum(len(v) for v in self.rows.values()) + sum(1 for k in self.kept if not k.also_mapped)

    def issue(self, entry: int, key: str, text: str, *, severity: str = "warning", code: str = "processing"):
        self.issues.append(
            {
                "severity": severity,
                "code": code,
                "diagnostics": f"entry {entry} ({key}): {text}",
                "expression": [f"Bundle.entry[{entry}].resource"],
            }
        )


def _entries(bundle) -> list:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRefused('not a FHIR Bundle (resourceType must be "Bundle")')
    if bundle.get("type") not in BUNDLE_TYPES:
        raise BundleRefused(
            f"Bundle.type {bundle.get('type')!r} cannot be imported (transaction, batch, "
            "collection, searchset or document)"
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BundleRefused("Bundle.entry is not a list")
    return entries


def _index(entries: list, out: ParsedBundle) -> list[tuple[int, str, dict]]:
    """(entry, key, resource) for every usable entry; every resource known to the bundle's references."""
    found, seen = [], set()
    for i, e in enumerate(entries):
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
            out.issue(i, "?", "the entry has no resource", severity="error", code="required")
            continue
        rid = r.get("id") or (e.get("fullUrl") or "").rpartition(":")[2].rpartition("/")[2]
        if not rid or not FHIR_ID.fullmatch(rid):
            if r["resourceType"] == "Patient":
                raise BundleRefused(
                    f"resource id {rid!r} is missing or not a FHIR id", entry=i, resource="Patient"
                )
            rid = f"entry-{i}"
            out.issue(i, r["resourceType"], f"no usable id: kept as {rid}", code="value")
        key = f"{r['resourceType']}/{rid}"
        if key in seen:
            if r["resourceType"] == "Patient":
                raise BundleRefused("the same resource appears twice in the bundle", entry=i, resource=key)
            out.issue(
                i, key, "the same resource appears twice in the bundle; the first is kept", code="duplicate"
            )
            continue
        seen.add(key)
        out.refs.add(e.get("fullUrl"), key, r)
        found.append((i, key, r))
    return found


def _patient_key(r: dict, refs: Refs, sole_patient: str | None, *, required: bool) -> str | None:
    for name in PATIENT_ELEMENTS:
        if r.get(name) is not None:
            return refs.key(r.get(name), f"{r['resourceType']}.{name}", want="Patient", required=required)
    if required:
        raise Invalid(f"{r['resourceType']} names no patient")
    return sole_patient


def _kept_patient(r: dict, refs: Refs, sole_patient: str | None) -> str | None:
    """The patient a kept resource belongs to: the one it names, else the bundle's only patient."""
    try:
        return _patient_key(r, refs, sole_patient, required=False) or sole_patient
    except Invalid:
        return None


def _parse_entry(out: ParsedBundle, i: int, key: str, r: dict, sole_patient: str | None) -> None:
    rtype = r["resourceType"]
    if rtype not in PARSERS:
        out.not_modelled[rtype] += 1
        out.kept.append(Kept(rtype, key, key.split("/", 1)[1], _kept_patient(r, out.refs, sole_patient), i))
        return
    kind, parser = PARSERS[rtype]
    try:
        fields, row_refs, used = parser(r, out.refs)
        patient_key = None
        if rtype not in ("Patient", "Practitioner"):
            patient_key = _patient_key(r, out.refs, sole_patient, required=True)
    except Invalid as exc:
        if rtype == "Patient":
            raise BundleRefused(str(exc), entry=i, resource=key) from None
        out.issue(i, key, f"{exc}; kept as received, not added to the chart", code="value")
        out.kept.append(Kept(rtype, key, key.split("/", 1)[1], _kept_patient(r, out.refs, sole_patient), i))
        return
    if (
        rtype == "Practitioner"
    ):  # also kept as received: served with the patient's record ($everything, export)
        out.kept.append(Kept(rtype, key, key.split("/", 1)[1], sole_patient, i, also_mapped=True))
    for element in r.keys() - used - BOOKKEEPING:
        out.dropped_elements[f"{rtype}.{element}"] += 1
    refs = {k: v for k, v in row_refs.items() if v}
    out.add(kind, Row(rtype, key, key.split("/", 1)[1], patient_key, fields, refs, entry=i))


def parse_bundle(bundle) -> ParsedBundle:
    """Parse a whole bundle: rows for what the product models, the rest kept, an issue per troubled entry.
    BundleRefused only for the bundle itself or its Patient."""
    out = ParsedBundle()
    indexed = _index(_entries(bundle), out)
    patients = [key for _, key, r in indexed if r["resourceType"] == "Patient"]
    sole_patient = patients[0] if len(patients) == 1 else None
    if not patients and any(r.get(name) for _, _, r in indexed for name in PATIENT_ELEMENTS):
        raise BundleRefused("the bundle has clinical data but no Patient resource")
    for i, key, r in indexed:
        _parse_entry(out, i, key, r, sole_patient)
    return out
