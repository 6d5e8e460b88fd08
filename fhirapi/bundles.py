"""Transaction and batch bundles posted to the FHIR base (FHIR R4 3.1.0.11 / http.html#transaction).

- transaction: every entry or none, in one database transaction. Entries are POST (create, with ifNoneExist) or
  PUT (update, with ifMatch); a POST's fullUrl (`urn:uuid:...`) may be referenced by the others and becomes the
  created resource's `Type/id` before they are written (creates run in an order that resolves them, then the
  updates). The first refusal rolls everything back and is answered alone, as an OperationOutcome naming the entry
  and element (`Bundle.entry[2].resource.valueQuantity.code`).
- batch: each entry on its own (its own transaction); the response carries each entry's status or outcome.
  References between entries are not resolved in a batch (the specification forbids relying on them).
"""

from __future__ import annotations

import copy

from django.db import transaction
from django.http import Http404

from .auth import AuthError
from .search import SearchError
from .write_views import (
    existing_match,
    fhir_base,
    outcome,
    refusal,
    views,
    write_context,
)
from .writing import WriteError, create, update

METHODS = ("POST", "PUT")


class EntryRefused(Exception):
    def __init__(self, index: int, exc: Exception):
        super().__init__(str(exc))
        self.index, self.exc = index, exc


def _fail(status: int, text: str, expression: str | None = None) -> WriteError:
    return WriteError(status, "invalid" if status == 400 else "not-supported", text, expression)


def _entries(bundle: dict, kind: str) -> list[dict]:
    if bundle.get("resourceType") != "Bundle":
        raise _fail(400, "POST to the base takes a Bundle.", "resourceType")
    if bundle.get("type") != kind:
        raise _fail(400, "Bundle.type must be transaction or batch.", "Bundle.type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise _fail(400, "Bundle.entry must be a list.", "Bundle.entry")
    for i, e in enumerate(entries):
        req = (e or {}).get("request") or {}
        if req.get("method") not in METHODS:
            raise _fail(
                400 if req.get("method") in (None, "") else 405,
                f"Bundle.entry[{i}].request.method must be POST or PUT here (got {req.get('method')!r}).",
                f"Bundle.entry[{i}].request.method",
            )
        if not isinstance(e.get("resource"), dict):
            raise _fail(400, f"Bundle.entry[{i}].resource is required.", f"Bundle.entry[{i}].resource")
    return entries


def _refs_in(node) -> list[dict]:
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("reference"), str):
                out.append(item)
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return out


def _order(entries: list[dict]) -> list[int]:
    """Creates first, each after the creates whose fullUrl it references; then the updates."""
    posts = [i for i, e in enumerate(entries) if e["request"]["method"] == "POST"]
    urls = {entries[i].get("fullUrl"): i for i in posts if entries[i].get("fullUrl")}
    needs = {
        i: {urls[r["reference"]] for r in _refs_in(entries[i]["resource"]) if r["reference"] in urls} - {i}
        for i in range(len(entries))
    }
    done: list[int] = []
    waiting = list(posts)
    while waiting:
        ready = [i for i in waiting if needs[i] <= set(done)]
        if not ready:
            i = waiting[0]
            raise _fail(
                400,
                f"Bundle.entry[{i}]: its references between entries go round in a circle.",
                f"Bundle.entry[{i}]",
            )
        done += ready
        waiting = [i for i in waiting if i not in ready]
    return done + [i for i, e in enumerate(entries) if e["request"]["method"] == "PUT"]


def _resolve(i: int, resource: dict, resolved: dict[str, str]) -> dict:
    out = copy.deepcopy(resource)
    for ref in _refs_in(out):
        value = ref["reference"]
        if value in resolved:
            ref["reference"] = resolved[value]
        elif value.startswith("urn:uuid:") or value.startswith("urn:oid:"):
            raise _fail(
                400,
                f"Bundle.entry[{i}]: reference {value} names no entry of this bundle.",
                f"Bundle.entry[{i}].resource",
            )
    return out


def _type_and_id(i: int, entry: dict) -> tuple[str, str | None]:
    url = str(entry["request"].get("url") or "").split("?", 1)[0].strip("/")
    parts = url.split("/")
    rtype = entry["resource"].get("resourceType")
    if not url or parts[0] != rtype:
        raise _fail(
            400,
            f"Bundle.entry[{i}].request.url must start with the resource's type ({rtype}).",
            f"Bundle.entry[{i}].request.url",
        )
    if entry["request"]["method"] == "PUT":
        if len(parts) != 2:
            raise _fail(
                400,
                f"Bundle.entry[{i}].request.url must be {rtype}/<id> for PUT.",
                f"Bundle.entry[{i}].request.url",
            )
        return rtype, parts[1]
    return rtype, None


def _one(request, token, i: int, entry: dict, resolved: dict[str, str], *, atomic: bool) -> dict:
    """Write one entry; its response element."""
    method = entry["request"]["method"]
    rtype, rid = _type_and_id(i, entry)
    resource = _resolve(i, entry["resource"], resolved)
    ctx = write_context(request, token, rtype, "create" if method == "POST" else "update")
    status = "201 Created"
    if method == "POST" and entry["request"].get("ifNoneExist"):
        found, match = existing_match(request, token, rtype, entry["request"]["ifNoneExist"])
        if found > 1:
            raise WriteError(412, "duplicate", f"ifNoneExist matches several {rtype} resources.")
        if match is not None:
            if entry.get("fullUrl"):
                resolved[entry["fullUrl"]] = f"{rtype}/{match['id']}"
            return {"response": {"status": "200 OK", "location": f"{rtype}/{match['id']}"}, "resource": match}
    if method == "POST":
        served, version = create(ctx, resource, resource_type=rtype, atomic=atomic)
    else:
        served, version = update(
            ctx, rtype, rid, resource, if_match=entry["request"].get("ifMatch"), atomic=atomic
        )
        status = "200 OK"
    if entry.get("fullUrl"):
        resolved[entry["fullUrl"]] = f"{rtype}/{served['id']}"
    return {
        "fullUrl": f"{fhir_base(request)}/{rtype}/{served['id']}",
        "resource": served,
        "response": {
            "status": status,
            "location": f"{rtype}/{served['id']}/_history/{version.version}",
            "etag": f'W/"{version.version}"',
            "lastModified": served["meta"]["lastUpdated"],
        },
    }


def _in_entry(i: int, exc: Exception):
    """The refusal of entry i, its element named inside the bundle."""
    if isinstance(exc, WriteError):
        rtype_path = exc.expression or ""
        head, _, tail = rtype_path.partition(".")
        where = (
            f"Bundle.entry[{i}].resource" + (f".{tail}" if tail else "")
            if rtype_path and not rtype_path.startswith("Bundle")
            else rtype_path
        )
        text = (
            exc.diagnostics
            if exc.diagnostics.startswith("Bundle.entry")
            else f"Bundle.entry[{i}]: {exc.diagnostics}"
        )
        return WriteError(exc.status, exc.code, text, where or None)
    return exc


def _transaction(request, token, entries):
    resolved: dict[str, str] = {}
    out: list[dict | None] = [None] * len(entries)
    try:
        with transaction.atomic():
            for i in _order(entries):
                try:
                    out[i] = _one(request, token, i, entries[i], resolved, atomic=False)
                except (WriteError, AuthError, SearchError, Http404) as exc:
                    raise EntryRefused(i, _in_entry(i, exc)) from None
    except EntryRefused as refused:
        denied = getattr(refused.exc, "denied", None)
        if denied:  # the door's denied event went with the rollback: kept now, outside the transaction
            from audit.services import access_record_denied

            access_record_denied(
                actor=denied["actor"],
                category=denied["category"],
                patient_id=denied["patient_id"],
                request=request,
                detail={"needed": denied["perm"]},
            )
        return refusal(refused.exc)
    return views.fhir_response({"resourceType": "Bundle", "type": "transaction-response", "entry": out})


def _batch(request, token, entries):
    out = []
    for i, entry in enumerate(entries):
        try:
            out.append(_one(request, token, i, entry, {}, atomic=True))
        except (WriteError, AuthError, SearchError, Http404) as exc:
            answer = refusal(_in_entry(i, exc))
            out.append(
                {
                    "response": {
                        "status": str(answer.status_code),
                        "outcome": __import__("json").loads(answer.content),
                    }
                }
            )
    return views.fhir_response({"resourceType": "Bundle", "type": "batch-response", "entry": out})


def bundle_process(*, request, token, bundle: dict):
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        return outcome(
            400,
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "POST to the base takes a Bundle of type transaction or batch.",
                "expression": ["Bundle.type"],
            },
        )
    entries = _entries(bundle, kind)
    return (_transaction if kind == "transaction" else _batch)(request, token, entries)
