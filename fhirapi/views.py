"""FHIR R4 REST endpoints: parse the request -> authorize the bearer token -> registry -> JSON.

Every answer is application/fhir+json; every error is an OperationOutcome (never an HTML page).
"""

from __future__ import annotations

import functools
import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from .auth import AuthError, grant_for, token_authenticate
from .ehi import FORMAT_VERSION as EHI_FORMAT_VERSION
from .ehi import ehi_export_build
from .paging import everything_page, instant_param
from .resources import REGISTRY, everything_bundle, resource_type_get
from .search import SearchError, elements, paging
from .selectors import patient_everything as everything_select

FHIR_JSON = "application/fhir+json"


def fhir_response(data: dict, status: int = 200, headers: dict | None = None) -> HttpResponse:
    resp = HttpResponse(json.dumps(data), content_type=f"{FHIR_JSON}; charset=utf-8", status=status)
    for k, v in (headers or {}).items():
        resp[k] = v
    return resp


def operation_outcome(status: int, code: str, diagnostics: str, headers: dict | None = None) -> HttpResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return fhir_response(body, status=status, headers=headers)


def fhir_endpoint(view):
    """GET only, errors as OperationOutcome, and access events marked as coming by the API.

    CSRF-exempt because a request is authorized only by its bearer token, which a browser never attaches on its
    own; session cookies are ignored here (auth.token_authenticate never reads them), so there is nothing for a
    cross-site request to ride on.
    """

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.audit_channel = "api"
        if request.method not in ("GET", "HEAD"):
            return operation_outcome(
                405,
                "not-supported",
                f"{request.method} is not supported here.",
                headers={"Allow": "GET"},
            )
        try:
            return view(request, *args, **kwargs)
        except AuthError as e:
            headers = {"WWW-Authenticate": e.www_authenticate} if e.www_authenticate else None
            return operation_outcome(e.status, e.code, e.diagnostics, headers=headers)
        except SearchError as e:
            return operation_outcome(400, "invalid", str(e))
        except Http404:
            return operation_outcome(404, "not-found", "Resource not found.")

    return wrapper


@fhir_endpoint
def metadata(request) -> HttpResponse:
    """The CapabilityStatement (no token needed: SMART clients read it to find the authorization endpoints)."""
    from .discovery import capability_security
    from .write_views import capability_writes

    base = request.build_absolute_uri(reverse("fhirapi:metadata")).rsplit("/metadata", 1)[0]
    resources = []
    for rt in REGISTRY.values():
        resources.append(
            {
                "type": rt.name,
                "profile": rt.profile,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [
                    {"name": p.name, "type": p.type, "documentation": p.documentation}
                    for p in rt.search_params
                ]
                + [
                    {
                        "name": "_count",
                        "type": "number",
                        "documentation": "Page size, 0-100 (default 20; 0: total only)",
                    },
                    {"name": "_summary", "type": "token", "documentation": "count (the total only) or false"},
                    {"name": "_elements", "type": "string", "documentation": "Top-level elements to return"},
                    {"name": "_offset", "type": "number", "documentation": "Skip this many matches"},
                ],
            }
        )
    body = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": timezone.now().date().isoformat(),
        "kind": "instance",
        "software": {"name": "openehr-clinic"},
        "implementation": {"description": "openehr-clinic FHIR R4 API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": capability_security(request),
                "resource": resources,
            }
        ],
    }
    capability_writes(body)  # the interactions fhirapi/write_views.py adds
    return fhir_response(body)


def _resource_type_or_404(name: str):
    rt = resource_type_get(name)
    if rt is None:
        raise Http404
    return rt


@fhir_endpoint
def resource_read(request, resource_type: str, resource_id: str) -> HttpResponse:
    rt = _resource_type_or_404(resource_type)
    grant = grant_for(token_authenticate(request), rt.name)
    return fhir_response(rt.read(grant=grant, resource_id=resource_id, request=request))


@fhir_endpoint
def resource_search(request, resource_type: str) -> HttpResponse:
    rt = _resource_type_or_404(resource_type)
    grant = grant_for(token_authenticate(request), rt.name)
    count, offset = paging(request.GET)
    page = rt.search(grant=grant, params=request.GET, count=count, offset=offset, request=request)
    resources = elements(request.GET, page.resources)

    base = request.build_absolute_uri(reverse("fhirapi:search", kwargs={"resource_type": rt.name}))
    kept = [(k, v) for k in request.GET if k not in ("_count", "_offset") for v in request.GET.getlist(k)]

    def link(relation: str, at: int) -> dict:
        return {
            "relation": relation,
            "url": f"{base}?{urlencode([*kept, ('_count', count), ('_offset', at)])}",
        }

    links = [link("self", offset)]
    if count and offset + count < page.total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    root = base.rsplit("/", 1)[0]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
        "entry": [
            {"fullUrl": f"{root}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }
    if not bundle["entry"]:
        del bundle["entry"]  # FHIR forbids empty arrays
    return fhir_response(bundle)


@fhir_endpoint
def patient_everything(request, patient_id: str) -> HttpResponse:
    """Patient/$everything: the patient and every resource of theirs the token may read (one access event)."""
    ctx = token_authenticate(request)
    grant = grant_for(ctx, "Patient")
    # Each type still needs a scope of its own: user/Patient.read alone returns the Patient and nothing else.
    types = {name for name in REGISTRY if name != "Patient" and _scope_allows(ctx, name)}
    if request.GET.get("_type"):  # only these types (the Patient always comes first)
        types &= {t.strip() for t in request.GET["_type"].split(",")}
    patient, found = everything_select(
        actor=grant.actor,
        patient_id=patient_id,
        request=request,
        launch_patient_id=grant.patient_id,
        types=types,
        since=instant_param(request.GET, "_since"),
    )
    base = request.build_absolute_uri(reverse("fhirapi:metadata")).rsplit("/metadata", 1)[0]
    bundle = everything_bundle(patient=patient, found=found, base=base)
    if request.GET.get("_count") or request.GET.get("_offset"):  # without them: everything in one bundle
        everything_page(bundle, request, *paging(request.GET))
    return fhir_response(bundle)


def _scope_allows(ctx, resource_type: str) -> bool:
    try:
        grant_for(ctx, resource_type)
    except AuthError:
        return False
    return True


@fhir_endpoint
def not_found(request, rest: str = "") -> HttpResponse:
    """Any other path under /fhir/: operations and interactions this slice does not implement."""
    return operation_outcome(404, "not-found", f"Unknown or unsupported FHIR path: /fhir/{rest}")


# ====================================================================== the EHI export (browser, signed-in staff)
@login_required
@require_GET
def ehi_export(request, patient_id) -> HttpResponse:
    """The whole record of one patient as a zip (ONC 170.315(b)(10)); 404 for anyone without clinical access."""
    patient, data = ehi_export_build(actor=request.user, patient_id=patient_id, request=request)
    resp = HttpResponse(data, content_type="application/zip")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    resp["Content-Disposition"] = f'attachment; filename="ehi-{patient.mrn}-{stamp}.zip"'
    return resp


@require_GET
def ehi_format(request) -> HttpResponse:
    """The published description of the export format: public, as the criterion requires."""
    types = [(rt.name, rt.profile) for rt in REGISTRY.values() if rt.name != "Practitioner"]
    return render(request, "fhirapi/ehi_format.html", {"types": types, "version": EHI_FORMAT_VERSION})


@require_GET
def smart_configuration(request) -> HttpResponse:
    """SMART App Launch discovery (.well-known/smart-configuration), public like the CapabilityStatement."""
    from .discovery import smart_configuration_body

    body = smart_configuration_body(request)
    resp = HttpResponse(json.dumps(body), content_type="application/json")
    resp["Access-Control-Allow-Origin"] = "*"  # discovery is public metadata, read by browser apps
    return resp
