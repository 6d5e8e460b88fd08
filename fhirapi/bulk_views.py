"""HTTP side of the FHIR Bulk Data export (fhirapi/bulk.py): kick-off, status (GET, DELETE to cancel), files."""

from __future__ import annotations

import functools
import re
from datetime import datetime

from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from patients.models import Department

from . import bulk
from .auth import AuthError, token_authenticate
from .models import ExportJob
from .resources import REGISTRY
from .views import operation_outcome

SYSTEM_SCOPE_RE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|rs|r|s|\*|c?ru?d?s)$")


class BulkError(Exception):
    def __init__(self, status: int, code: str, diagnostics: str):
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def bulk_endpoint(methods: tuple[str, ...]):
    def deco(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            request.audit_channel = "api"
            if request.method not in methods:
                return operation_outcome(
                    405,
                    "not-supported",
                    f"{request.method} is not supported here.",
                    {"Allow": ", ".join(methods)},
                )
            try:
                return view(request, *args, **kwargs)
            except AuthError as e:
                headers = {"WWW-Authenticate": e.www_authenticate} if e.www_authenticate else None
                return operation_outcome(e.status, e.code, e.diagnostics, headers=headers)
            except BulkError as e:
                return operation_outcome(e.status, e.code, e.diagnostics)
            except Http404:
                return operation_outcome(404, "not-found", "Resource not found.")

        return wrapper

    return deco


def _system_types(ctx) -> set[str]:
    """The resource types the token's system/ scopes allow reading."""
    allowed: set[str] = set()
    for scope in ctx.scopes:
        m = SYSTEM_SCOPE_RE.match(scope)
        if m and ("r" in m.group(2) or m.group(2) == "*"):
            allowed |= set(REGISTRY) if m.group(1) == "*" else {m.group(1)} & set(REGISTRY)
    return allowed


def _since(params) -> datetime | None:
    raw = params.get("_since")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise BulkError(400, "invalid", f"_since must be a FHIR instant with a time zone, got {raw!r}.")
    return value


def _types(params, allowed: set[str]) -> list[str]:
    if not params.get("_type"):
        return sorted(allowed)
    asked = {t.strip() for v in params.getlist("_type") for t in v.split(",") if t.strip()}
    unknown = asked - set(REGISTRY)
    if unknown:
        raise BulkError(
            400, "not-supported", f"_type names unsupported resource types: {', '.join(sorted(unknown))}."
        )
    refused = asked - allowed
    if refused:
        raise BulkError(
            403, "forbidden", f"The token's scopes do not allow reading {', '.join(sorted(refused))}."
        )
    return sorted(asked)


def _check_request(request) -> None:
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise BulkError(
            400, "invalid", "A bulk export must be requested with the header Prefer: respond-async."
        )
    fmt = request.GET.get("_outputFormat")
    if fmt and fmt not in bulk.OUTPUT_FORMATS:
        raise BulkError(400, "not-supported", f"_outputFormat {fmt!r} is not supported (only {bulk.NDJSON}).")
    for name in request.GET:
        if name not in ("_type", "_since", "_outputFormat"):
            raise BulkError(400, "not-supported", f"The export parameter {name} is not supported.")


def _kick_off(request, level: str, group_id: str | None = None):
    ctx = token_authenticate(request)
    allowed = _system_types(ctx)
    if not allowed:
        raise AuthError(403, "forbidden", "A bulk export needs system/ scopes (e.g. system/*.read).")
    group = _group(group_id) if level == ExportJob.Level.GROUP else None  # asked only of a system client
    _check_request(request)
    types = _types(request.GET, allowed)
    since = _since(request.GET)
    application = _application(ctx)
    job = bulk.kick_off(
        actor=getattr(ctx.actor, "user", ctx.actor),  # the job's owner: the client's service account
        application=application,
        level=level,
        types=types,
        since=since,
        group=group,
        request_url=request.build_absolute_uri(),
    )
    status_url = request.build_absolute_uri(reverse("fhirapi:export_status", kwargs={"job_id": job.pk}))
    resp = operation_outcome(
        202, "informational", "The export has started.", {"Content-Location": status_url}
    )
    return resp


def _application(ctx):
    from oauth2_provider.models import get_access_token_model

    return get_access_token_model().objects.select_related("application").get(pk=ctx.token_id).application


@bulk_endpoint(("GET",))
def export_system(request):
    return _kick_off(request, ExportJob.Level.SYSTEM)


@bulk_endpoint(("GET",))
def export_patients(request):
    return _kick_off(request, ExportJob.Level.PATIENT)


@bulk_endpoint(("GET",))
def export_group(request, group_id: str):
    return _kick_off(request, ExportJob.Level.GROUP, group_id=group_id)


def _group(group_id: str) -> Department:
    """A Group is a department (patients.Department); an unknown one is 404."""
    group = Department.objects.filter(pk=int(group_id)).first() if group_id.isdigit() else None
    if group is None:
        raise Http404
    return group


def _own_job(request, job_id) -> ExportJob:
    """The job, if the token is of the client that started it; 404 otherwise (the same answer as no such job)."""
    ctx = token_authenticate(request)
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.application_id != _application(ctx).pk:
        raise Http404
    return job


@bulk_endpoint(("GET", "DELETE"))
def export_status(request, job_id):
    job = _own_job(request, job_id)
    if job.status in (ExportJob.Status.CANCELLED, ExportJob.Status.EXPIRED):
        raise Http404
    if request.method == "DELETE":
        bulk.cancel(job)
        return operation_outcome(202, "informational", "The export is cancelled and its files deleted.")
    if job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
        resp = operation_outcome(202, "informational", "The export is in progress.")
        resp["X-Progress"] = f"{job.progress_percent}% ({job.patients_done} of {job.patients_total} patients)"
        resp["Retry-After"] = "2"
        return resp
    if job.status == ExportJob.Status.FAILED:
        return operation_outcome(500, "exception", job.error or "The export failed.")
    from .views import fhir_response

    base = request.build_absolute_uri(reverse("fhirapi:metadata")).rsplit("/metadata", 1)[0]
    resp = fhir_response(bulk.manifest(job, base=base))
    resp["Content-Type"] = "application/json"
    if job.expires_at:
        resp["Expires"] = http_date(job.expires_at.timestamp())
    return resp


@bulk_endpoint(("GET",))
def export_file(request, job_id, resource_type: str):
    job = _own_job(request, job_id)
    if job.status != ExportJob.Status.DONE:
        raise Http404
    f = bulk.file_open(job, resource_type, request=request)
    if f is None:
        raise Http404
    return FileResponse(f, content_type=bulk.NDJSON)
