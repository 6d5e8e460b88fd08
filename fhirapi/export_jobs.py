"""The Bulk Data exports page: every `$export` job with its progress, for the practice admin who set up the client
that starts them (fhirapi/bulk.py runs them on the worker).

A job holds no patient data on this page: its level, group, client, status, counts of patients and resources, and
when its files expire. The list refreshes itself (htmx) while a job is queued or running.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .models import ExportJob

EXPORTS_SHOWN = 50
PERMISSION = "fhirapi.view_exportjob"


def recent_jobs(limit: int = EXPORTS_SHOWN) -> list[ExportJob]:
    """The newest jobs, with their client and group, in one query; patient id lists are not read."""
    return list(
        ExportJob.objects.select_related("application", "group")
        .defer("patient_ids")
        .order_by("-created_at")[:limit]
    )


@login_required
@require_GET
def exports(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("You do not have permission to see the data exports.")
    jobs = recent_jobs()
    running = any(j.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for j in jobs)
    context = {"jobs": jobs, "running": running}
    if request.htmx:
        return render(request, "fhirapi/_export_jobs.html", context)
    return render(request, "fhirapi/export_jobs.html", context)
