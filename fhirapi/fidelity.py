"""Serving imported resources back unchanged.

Every imported resource keeps its JSON as received (ImportedRecord.resource for those that became rows of ours,
KeptResource for the rest) with its references resolved to what serves them here (`refs`). When the API serves a
row that came from an import and nobody has changed the row since (its digest is the one taken at import), it
serves the resource as received: every element and value as sent, only the lossless normalisations of docs/fhir.md
(our id, references to our ids, our identifiers and profiles added, `meta.source` naming the sender). Once someone
changes the row here, the row's own mapping is served, with the received elements the product does not hold added
(they did not change).

Reads here are one query per page of resources, whatever their number (constant query counts).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import DecimalField, JSONField, Q
from django.utils import timezone

from .given import rounded
from .models import ImportedRecord, KeptResource

# Row columns that change without anyone editing what the resource says (kept derived values, bookkeeping).
NOT_DIGESTED = {
    "updated_at",
    "allergy_status",
    "allergy_summary",
    "allergy_reviewed_at",
    "name_search",
    "chart_version",  # bumped by triggers whenever any row of the chart changes
}
# Choice elements: the source's variant must not be added next to ours (value[x], onset[x] ...).
CHOICES = (
    "value",
    "effective",
    "onset",
    "abatement",
    "deceased",
    "occurrence",
    "medication",
    "multipleBirth",
)
SENSITIVE_SYSTEMS = ("http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.3")


def _stored(f, row):
    """A column's value as the database holds it, whether `row` was read back or is the object just written
    (numbers rounded to the column's places, instants in UTC, JSON with its keys sorted)."""
    value = getattr(row, f.attname)
    if value is None:
        return None
    if isinstance(f, DecimalField):
        return str(rounded(Decimal(value), f.decimal_places))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(f, JSONField) or isinstance(value, (dict, list)):  # also encrypted JSON (addresses)
        return json.dumps(value, sort_keys=True, default=str)
    return f.value_to_string(row)


_DIGESTED: dict = {}  # model -> its digested fields


def _digested(model) -> list:
    found = _DIGESTED.get(model)
    if found is None:
        found = _DIGESTED[model] = [
            f
            for f in model._meta.concrete_fields
            if f.attname not in NOT_DIGESTED and not getattr(f, "auto_now", False)
        ]
    return found


def row_digest(row) -> str:
    """A digest of the row's stored values: equal digests, unchanged row. The import takes it from the objects it
    wrote (no read back), the API from the rows it read: both give the values as stored."""
    parts = [(f.attname, _stored(f, row)) for f in _digested(type(row))]
    return "2:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:62]  # fits the column


def _digest_v1(row) -> str:
    """The digest imports took before "2:" (read back from the database): still recognised."""
    parts = [
        (f.attname, f.value_to_string(row))
        for f in row._meta.concrete_fields
        if f.attname not in NOT_DIGESTED - {"chart_version"} and not getattr(f, "auto_now", False)
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def unchanged(row, digest: str) -> bool:
    if digest.startswith("2:"):
        return row_digest(row) == digest
    return bool(digest) and _digest_v1(row) == digest


def rewrite(resource: dict, refs: dict) -> dict:
    """A deep copy with every reference as sent replaced by the one that serves it here."""
    out = copy.deepcopy(resource)
    if not refs:
        return out
    stack = [out]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and ref in refs:
                item["reference"] = refs[ref]
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return out


def _meta(source_meta: dict | None, ours: dict | None, sender: str, source_key: str) -> dict:
    meta = dict(source_meta or {})
    profiles = list(meta.get("profile") or [])
    profiles += [p for p in (ours or {}).get("profile") or [] if p not in profiles]
    if profiles:
        meta["profile"] = profiles
    meta["source"] = f"{sender}#{source_key}"
    return meta


def _minimum_necessary(resource: dict) -> dict:
    """The API leaves the SSN and driver's licence out (the EHI export keeps them)."""
    if resource.get("resourceType") == "Patient" and resource.get("identifier"):
        kept = [
            i for i in resource["identifier"] if not str(i.get("system") or "").startswith(SENSITIVE_SYSTEMS)
        ]
        resource["identifier"] = kept
        if not kept:
            del resource["identifier"]
    return resource


def kept_to_fhir(k: KeptResource, *, with_identifiers: bool = False) -> dict:
    """A kept resource as received: our id, references to what serves them here, meta.source naming the sender."""
    out = rewrite(k.resource, k.refs)
    out["id"] = str(k.pk)
    out["meta"] = _meta(out.get("meta"), None, k.source, f"{k.resource_type}/{k.source_id}")
    return out if with_identifiers else _minimum_necessary(out)


def _received(rec: ImportedRecord, ours: dict) -> dict:
    out = rewrite(rec.resource, rec.refs)
    out["id"] = ours["id"]
    out["meta"] = _meta(out.get("meta"), ours.get("meta"), rec.source, f"{rec.resource_type}/{rec.source_id}")
    # Our identifiers (the MRN) travel with the sender's.
    idents = list(out.get("identifier") or [])
    idents += [i for i in ours.get("identifier") or [] if i not in idents]
    if idents:
        out["identifier"] = idents
    return out


def _with_received(ours: dict, received: dict) -> dict:
    """Ours (the row was changed here), plus the received elements the product does not hold."""
    out = dict(ours)
    for name, value in received.items():
        if name in out or any(name.startswith(c) and any(k.startswith(c) for k in out) for c in CHOICES):
            continue
        out[name] = value
    return out


def serve(pairs: list[tuple[object, dict]], *, with_identifiers: bool = False) -> list[dict]:
    """(row, resource mapped from it) -> the resources to serve, in the same order (see the module's text)."""
    wanted = defaultdict(set)
    for row, res in pairs:
        if not isinstance(row, KeptResource):
            wanted[res["resourceType"]].add(res["id"])
    records = {}
    if wanted:
        q = Q()
        for rtype, ids in wanted.items():
            q |= Q(resource_type=rtype, served_id__in=ids)
        for rec in ImportedRecord.objects.filter(q).exclude(resource=None):
            records[(rec.resource_type, rec.served_id)] = rec
    out = []
    for row, res in pairs:
        rec = records.get((res["resourceType"], res["id"]))
        if rec is not None:
            received = _received(rec, res)
            res = received if unchanged(row, rec.row_digest) else _with_received(res, received)
        out.append(_last_updated(row, res if with_identifiers else _minimum_necessary(res)))
    return out


def _last_updated(row, res: dict) -> dict:
    """meta.lastUpdated: when the row last changed here (`updated_at`; a kept resource: when it was received), the
    time `_lastUpdated` searches and sorts by."""
    changed = getattr(row, "received_at" if isinstance(row, KeptResource) else "updated_at", None)
    if changed is not None:
        res["meta"] = {**(res.get("meta") or {}), "lastUpdated": timezone.localtime(changed).isoformat()}
    return res


def kept_of_patient(patient_id) -> list[KeptResource]:
    return list(
        KeptResource.objects.filter(patient_id=patient_id).order_by("resource_type", "received_at", "pk")
    )
