"""The privacy officer's reports. Parse the request -> audit selector -> render (or stream CSV)."""

from __future__ import annotations

import csv
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from . import categories, selectors, summary
from .forms import BreakGlassReportForm, PatientReportForm, ReportFilterForm, UserReportForm
from .services import access_record_denied


def reports_required(view):
    """The privacy officer's permission (audit.view_reports), or 403; a refused attempt is recorded, like an
    outsider's attempt to open a chart."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.has_perm(selectors.REPORT_PERM):
            access_record_denied(
                actor=request.user,
                category=categories.AUDIT_REPORT,
                request=request,
                detail={"needed": selectors.REPORT_PERM},
            )
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


CSV_HEADER = [
    "event_id",
    "occurred_at",
    "user",
    "action",
    "category",
    "outcome",
    "patient_mrn",
    "patient_name",
    "other_patients",
    "break_glass",
    "reason",
    "source_ip",
    "channel",
    "request_id",
]


def _query(request: HttpRequest, **changes) -> str:
    params = request.GET.copy()
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return "?" + urlencode(sorted((k, v) for k, vs in params.lists() for v in vs))


def _columns(request: HttpRequest, report: selectors.AuditReport, keys: list[tuple[str, str]]) -> list[dict]:
    """Header cells: each links to sorting by it (ascending, or descending when already ascending)."""
    cols = []
    for key, label in keys:
        current = report.sort.lstrip("-") == key
        desc = report.sort.startswith("-")
        nxt = f"-{key}" if current and not desc else key
        cols.append(
            {
                "key": key,
                "label": label,
                "url": _query(request, sort=nxt, page=None, asof=None),
                "aria": ("descending" if desc else "ascending") if current else None,
            }
        )
    return cols


# What may start a formula (or a DDE command) in Excel, LibreOffice or Google Sheets: the ASCII signs, their
# full-width forms (spreadsheets normalise them), the pipe, and the tab, CR and LF that hide one behind whitespace.
_FORMULA_START = frozenset("=+-@|\t\r\n\uff1d\uff0b\uff0d\uff20\uff5c")


def _safe_cell(value) -> str:
    """Spreadsheet formula injection guard (OWASP CSV injection): free text never starts a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s[:1] in _FORMULA_START else s


class _Echo:
    def write(self, value):
        return value


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_HEADER)
        for r in rows:
            ev = r.event
            yield writer.writerow(
                [
                    _safe_cell(x)
                    for x in (
                        ev.id,
                        timezone.localtime(ev.occurred_at).isoformat(timespec="seconds"),
                        ev.actor_username,
                        ev.action,
                        ev.category,
                        ev.outcome,
                        r.patient_mrn,
                        r.patient_name,
                        r.others,
                        "yes" if ev.break_glass else "",
                        r.reason,
                        ev.source_ip or "",
                        ev.channel,
                        ev.request_id,
                    )
                ]
            )

    resp = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


def _with_default_range(query):
    """The query with the default date range filled in, so the form shows the period the report covers."""
    if not query:
        return None
    data = query.copy()
    start, end = selectors.date_range(None, None)
    if not data.get("start") and not data.get("end"):
        data["start"], data["end"] = start.isoformat(), end.isoformat()
    return data


def _filters(form: ReportFilterForm) -> dict:
    c = form.cleaned_data
    return {"start": c.get("start"), "end": c.get("end"), "sort": c.get("sort") or None}


PATIENT_COLUMNS = [
    ("time", "When"),
    ("user", "User"),
    ("action", "Action"),
    ("category", "Data"),
    ("outcome", "Outcome"),
    ("break_glass", "Emergency"),
    ("reason", "Reason"),
    ("ip", "Address"),
    ("channel", "Channel"),
]
USER_COLUMNS = [
    ("time", "When"),
    ("patient", "Patient"),
    ("action", "Action"),
    ("category", "Data"),
    ("outcome", "Outcome"),
    ("break_glass", "Emergency"),
    ("reason", "Reason"),
    ("ip", "Address"),
    ("channel", "Channel"),
]
BTG_COLUMNS = [
    ("time", "When"),
    ("user", "User"),
    ("patient", "Patient"),
    ("action", "Action"),
    ("category", "Data"),
    ("outcome", "Outcome"),
    ("reason", "Reason"),
    ("ip", "Address"),
]


@login_required
@reports_required
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "audit/reports.html",
        {
            "patient_form": PatientReportForm(),
            "user_form": UserReportForm(),
            "btg_form": BreakGlassReportForm(),
        },
    )


def _patient_subject(request: HttpRequest, form: PatientReportForm, ctx: dict) -> dict | None:
    """The report's patient: by MRN, or by name and date of birth (several matches: ctx["candidates"])."""
    c = form.cleaned_data
    if c.get("mrn"):
        subject = selectors.audit_patient_find(actor=request.user, mrn=c["mrn"])
        if subject is None:
            form.add_error("mrn", "No patient has that MRN.")
        return subject
    found = summary.audit_patients_find(
        actor=request.user, name=c["name"], birth_date=c["birth_date"], request=request
    )
    if not found:
        form.add_error(
            "name", "No patient has that name and date of birth. Check the spelling, or use the MRN."
        )
        return None
    if len(found) > 1:
        ctx["candidates"] = [
            {**p, "url": _query(request, mrn=p["mrn"], name=None, birth_date=None, page=None, asof=None)}
            for p in found
        ]
        return None
    return found[0]


@login_required
@reports_required
@require_GET
def patient_report(request: HttpRequest) -> HttpResponse:
    """Who opened this chart: a summary per person first; `view=events` lists the raw events (of one person with
    `who`); `export=csv` streams them all."""
    form = PatientReportForm(_with_default_range(request.GET))
    ctx: dict = {"form": form, "title": "Who opened this chart", "columns_spec": PATIENT_COLUMNS}
    subject = _patient_subject(request, form, ctx) if form.is_valid() else None
    if subject is None:
        return render(request, "audit/patient_summary.html", ctx)
    ctx["subject"] = f"{subject['family_name'].upper()}, {subject['given_name']} · MRN {subject['mrn']}"
    ctx["summary_url"] = _query(
        request,
        mrn=subject["mrn"],
        name=None,
        birth_date=None,
        view=None,
        who=None,
        page=None,
        asof=None,
        sort=None,
    )
    if request.GET.get("export") == "csv":
        rows = selectors.audit_export_rows(
            actor=request.user, report="patient", patient_id=subject["id"], request=request, **_filters(form)
        )
        return _csv_response(rows, f"audit-patient-{subject['mrn']}.csv")
    if form.cleaned_data.get("view") != "events":
        ctx["summary"] = summary.audit_patient_summary(
            actor=request.user,
            patient_id=subject["id"],
            start=form.cleaned_data.get("start"),
            end=form.cleaned_data.get("end"),
            request=request,
        )
        ctx["events_url"] = _query(
            request,
            mrn=subject["mrn"],
            name=None,
            birth_date=None,
            view="events",
            who=None,
            page=None,
            asof=None,
        )
        return render(request, "audit/patient_summary.html", ctx)
    report = selectors.audit_events_for_patient(
        actor=request.user,
        patient_id=subject["id"],
        page=form.cleaned_data.get("page") or 1,
        request=request,
        asof=form.cleaned_data.get("asof"),
        who=form.cleaned_data.get("who") or None,
        **_filters(form),
    )
    ctx.update(_report_ctx(request, report, PATIENT_COLUMNS))
    return render(request, "audit/report.html", ctx)


@login_required
@reports_required
@require_GET
def user_report(request: HttpRequest) -> HttpResponse:
    form = UserReportForm(_with_default_range(request.GET))
    ctx: dict = {"form": form, "title": "What did this user open"}
    if form.is_valid():
        user = selectors.audit_user_find(actor=request.user, username=form.cleaned_data["username"])
        if user is None:
            form.add_error("username", "No user has that username.")
        else:
            ctx["subject"] = f"{user.get_full_name() or user.username} ({user.username})"
            if request.GET.get("export") == "csv":
                rows = selectors.audit_export_rows(
                    actor=request.user, report="user", user_id=user.pk, request=request, **_filters(form)
                )
                return _csv_response(rows, f"audit-user-{user.pk}.csv")
            report = selectors.audit_events_for_user(
                actor=request.user,
                user_id=user.pk,
                page=form.cleaned_data.get("page") or 1,
                request=request,
                asof=form.cleaned_data.get("asof"),
                **_filters(form),
            )
            ctx.update(_report_ctx(request, report, USER_COLUMNS))
    return render(request, "audit/report.html", ctx)


@login_required
@reports_required
@require_GET
def break_glass_report(request: HttpRequest) -> HttpResponse:
    # Unlike the other two, this report has no subject: it opens straight away on the last 30 days.
    form = BreakGlassReportForm(_with_default_range(request.GET) or _with_default_range({"grants_only": ""}))
    ctx: dict = {"form": form, "title": "Emergency access (break the glass)", "break_glass": True}
    if form.is_valid():
        grants_only = form.cleaned_data["grants_only"]
        if request.GET.get("export") == "csv":
            rows = selectors.audit_export_rows(
                actor=request.user,
                report="break_glass",
                grants_only=grants_only,
                request=request,
                **_filters(form),
            )
            return _csv_response(rows, "audit-emergency-access.csv")
        report = selectors.break_glass_events(
            actor=request.user,
            page=form.cleaned_data.get("page") or 1,
            grants_only=grants_only,
            request=request,
            asof=form.cleaned_data.get("asof"),
            **_filters(form),
        )
        ctx.update(_report_ctx(request, report, BTG_COLUMNS))
    return render(request, "audit/report.html", ctx)


def _report_ctx(request: HttpRequest, report: selectors.AuditReport, spec) -> dict:
    return {
        "report": report,
        "columns": _columns(request, report, spec),
        "keys": [k for k, _ in spec],
        "prev_url": _query(request, page=report.page - 1, asof=report.asof) if report.page > 1 else None,
        "next_url": _query(request, page=report.page + 1, asof=report.asof) if report.more else None,
        "csv_url": _query(request, export="csv", page=None, asof=None),
    }
