"""HTTP of the writes (docs/fhir.md, "Writes"): create, update, transaction and batch bundles, vread and history.

The URL patterns of fhirapi/urls.py send each path here; GET and HEAD go on to the read and search views
(fhirapi/views.py), whose answers for a versioned resource gain `meta.versionId` and an ETag here.
"""

from __future__ import annotations

import functools
import json

from django.http import Http404, QueryDict
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from . import versions, views
from .auth import WRITABLE_TYPES, AuthError, grant_for, grant_for_write, token_authenticate
from .search import SearchError
from .writing import WriteContext, WriteError, create, denial_status, update

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def outcome(status: int, issue: dict, headers: dict | None = None):
    return views.fhir_response(
        {"resourceType": "OperationOutcome", "issue": [issue]}, status=status, headers=headers
    )


def refusal(exc: Exception):
    """An OperationOutcome for any refusal of a write; None when `exc` is not one."""
    if isinstance(exc, WriteError):
        return outcome(exc.status, exc.issue())
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": exc.www_authenticate} if exc.www_authenticate else None
        return outcome(
            exc.status, {"severity": "error", "code": exc.code, "diagnostics": exc.diagnostics}, headers
        )
    if isinstance(exc, SearchError):
        return outcome(400, {"severity": "error", "code": "invalid", "diagnostics": str(exc)})
    denied = denial_status(exc)
    if denied:
        return outcome(denied[0], {"severity": "error", "code": denied[1], "diagnostics": denied[2]})
    return None


def write_endpoint(view):
    """Errors as OperationOutcome; access events marked as coming by the API. CSRF-exempt for the reason
    fhirapi.views.fhir_endpoint gives (bearer tokens only, never the session)."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.audit_channel = "api"
        try:
            return view(request, *args, **kwargs)
        except (WriteError, AuthError, SearchError, Http404) as exc:
            return refusal(exc)

    return wrapper


def _not_allowed(request, allow: str):
    return outcome(
        405,
        {
            "severity": "error",
            "code": "not-supported",
            "diagnostics": f"{request.method} is not supported here.",
        },
        headers={"Allow": allow},
    )


def body_of(request) -> dict:
    kind = request.content_type or ""
    if kind not in JSON_TYPES:
        raise WriteError(
            415, "not-supported", f"Send application/fhir+json, not {kind or 'no Content-Type'}."
        )
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise WriteError(400, "structure", f"The body is not JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise WriteError(400, "structure", "The body must be a FHIR resource (a JSON object).")
    return body


def token_application(token_id: int):
    from oauth2_provider.models import get_access_token_model

    token = get_access_token_model().objects.select_related("application").filter(pk=token_id).first()
    return token.application if token else None


def write_context(request, token, resource_type: str, interaction: str) -> WriteContext:
    grant = grant_for_write(token, resource_type, interaction)
    return WriteContext(
        actor=grant.actor, grant=grant, app=token_application(token.token_id), request=request
    )


def fhir_base(request) -> str:
    return request.build_absolute_uri(reverse("fhirapi:metadata")).rsplit("/metadata", 1)[0]


def version_headers(request, resource: dict, version) -> dict:
    rtype, rid = resource["resourceType"], resource["id"]
    return {
        "Location": f"{fhir_base(request)}/{rtype}/{rid}/_history/{version.version}",
        "ETag": versions.etag(version),
        "Last-Modified": version.recorded_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }


def written_response(request, resource: dict, version, status: int):
    headers = version_headers(request, resource, version)
    if status == 200:
        headers.pop("Location")
        headers["Content-Location"] = (
            f"{fhir_base(request)}/{resource['resourceType']}/{resource['id']}/_history/{version.version}"
        )
    if "return=minimal" in request.headers.get("Prefer", ""):
        resp = views.HttpResponse(status=status)
        for k, v in headers.items():
            resp[k] = v
        return resp
    return views.fhir_response(resource, status=status, headers=headers)


def existing_match(request, token, resource_type: str, query: str) -> tuple[int, dict | None]:
    """Conditional create (If-None-Exist): how many resources the search matches (0, 1 or 2 = several), and the
    one match. The search runs as a search does (read scope, the door, one list event)."""
    from .resources import REGISTRY

    params = QueryDict(query.lstrip("?"))
    if not params:
        raise WriteError(
            400, "invalid", "If-None-Exist needs search parameters (e.g. identifier=system|value)."
        )
    rt = REGISTRY[resource_type]
    page = rt.search(grant=grant_for(token, resource_type), params=params, count=2, offset=0, request=request)
    return min(page.total, 2), (page.resources[0] if page.total == 1 else None)


def _create(request, resource_type: str):
    token = token_authenticate(request)
    ctx = write_context(request, token, resource_type, "create")
    resource = body_of(request)
    condition = request.headers.get("If-None-Exist")
    if condition:
        found, match = existing_match(request, token, resource_type, condition)
        if found > 1:
            raise WriteError(412, "duplicate", f"If-None-Exist matches several {resource_type} resources.")
        if match is not None:
            served = versions.current(match)
            last = versions.latest(resource_type, served["id"])
            headers = version_headers(request, served, last) if last else {}
            headers.pop("Location", None)
            return views.fhir_response(served, status=200, headers=headers)
    served, version = create(ctx, resource, resource_type=resource_type)
    return written_response(request, served, version, 201)


@write_endpoint
def type_endpoint(request, resource_type: str):
    """GET [type] (search) and POST [type] (create)."""
    if request.method in ("GET", "HEAD"):
        return views.resource_search(request, resource_type)
    if request.method == "POST" and resource_type in WRITABLE_TYPES:
        return _create(request, resource_type)
    if request.method == "POST" and views.resource_type_get(resource_type) is None:
        raise Http404
    return _not_allowed(request, "GET, POST" if resource_type in WRITABLE_TYPES else "GET")


def _stamp_read(response):
    """A versioned resource's read gains meta.versionId, meta.lastUpdated and an ETag."""
    if response.status_code != 200:
        return response
    resource = json.loads(response.content)
    served = versions.current(resource)
    if served is resource:
        return response
    last = versions.latest(resource["resourceType"], resource["id"])
    out = views.fhir_response(served)
    if last is not None:
        out["ETag"] = versions.etag(last)
    return out


@write_endpoint
def instance_endpoint(request, resource_type: str, resource_id: str):
    """GET [type]/[id] (read, with the version) and PUT [type]/[id] (update, If-Match)."""
    if request.method in ("GET", "HEAD"):
        response = views.resource_read(request, resource_type, resource_id)
        return _stamp_read(response) if resource_type in WRITABLE_TYPES else response
    if request.method == "PUT" and resource_type in WRITABLE_TYPES:
        token = token_authenticate(request)
        ctx = write_context(request, token, resource_type, "update")
        resource = body_of(request)
        served, version = update(
            ctx, resource_type, resource_id, resource, if_match=request.headers.get("If-Match")
        )
        return written_response(request, served, version, 200)
    if views.resource_type_get(resource_type) is None:
        raise Http404
    return _not_allowed(request, "GET, PUT" if resource_type in WRITABLE_TYPES else "GET")


def _read_current(request, resource_type: str, resource_id: str) -> dict:
    """The resource as read now (door, read scope), its current state recorded as a version if it changed."""
    rt = views.resource_type_get(resource_type)
    if rt is None or resource_type not in WRITABLE_TYPES:
        raise Http404
    grant = grant_for(token_authenticate(request), rt.name)
    return versions.current(rt.read(grant=grant, resource_id=resource_id, request=request))


@write_endpoint
def history_instance(request, resource_type: str, resource_id: str):
    """GET [type]/[id]/_history: a history Bundle, newest first (empty for a resource never versioned)."""
    if request.method not in ("GET", "HEAD"):
        return _not_allowed(request, "GET")
    _read_current(request, resource_type, resource_id)
    base = fhir_base(request)
    rows = versions.history(resource_type, resource_id)
    entries = []
    for v in rows:
        method = "POST" if v.method == "create" else "PUT"
        entries.append(
            {
                "fullUrl": f"{base}/{resource_type}/{resource_id}",
                "resource": v.resource,
                "request": {
                    "method": method,
                    "url": resource_type if method == "POST" else f"{resource_type}/{resource_id}",
                },
                "response": {
                    "status": "201 Created" if method == "POST" else "200 OK",
                    "etag": versions.etag(v),
                    "lastModified": v.resource["meta"]["lastUpdated"],
                },
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(entries),
        "link": [{"relation": "self", "url": request.build_absolute_uri()}],
    }
    if entries:
        bundle["entry"] = entries
    return views.fhir_response(bundle)


@write_endpoint
def vread(request, resource_type: str, resource_id: str, version_id: str):
    """GET [type]/[id]/_history/[vid]: that version as it was served."""
    if request.method not in ("GET", "HEAD"):
        return _not_allowed(request, "GET")
    _read_current(request, resource_type, resource_id)
    v = versions.version_get(resource_type, resource_id, version_id)
    if v is None:
        raise Http404
    return views.fhir_response(v.resource, headers={"ETag": versions.etag(v)})


@write_endpoint
def root(request):
    """POST [base] with a Bundle of type transaction (all or nothing) or batch (each entry on its own)."""
    from .bundles import bundle_process

    if request.method in ("GET", "HEAD"):
        return views.not_found(request, "")  # no system-level search or history
    if request.method != "POST":
        return _not_allowed(request, "POST")
    token = token_authenticate(request)
    body = body_of(request)
    return bundle_process(request=request, token=token, bundle=body)


UPDATABLE = ("Patient", "Observation", "Condition", "AllergyIntolerance", "DocumentReference", "Appointment")


def capability_writes(body: dict) -> None:
    """The CapabilityStatement's part for writes: exactly what this module serves."""
    rest = body["rest"][0]
    for res in rest["resource"]:
        if res["type"] not in WRITABLE_TYPES:
            continue
        codes = ["create", "vread", "history-instance"] + (["update"] if res["type"] in UPDATABLE else [])
        res["interaction"] += [{"code": c} for c in codes]
        res["versioning"] = "versioned-update"
        res["readHistory"] = True
        res["updateCreate"] = False
        res["conditionalCreate"] = True
    rest["interaction"] = [
        {
            "code": "transaction",
            "documentation": "All or nothing; urn:uuid references between entries resolved",
        },
        {"code": "batch", "documentation": "Each entry on its own"},
    ]
    provenance = next((r for r in rest["resource"] if r["type"] == "Provenance"), None)
    if provenance is not None:
        provenance["documentation"] = "Written with every create and update through this API (target, agent)."
