"""The calendar pages: the day (a time grid with a column per provider, or the list) and the week (a column per day,
per provider chosen), free slots one clicks to book, the patient flow's steps in place (htmx), and choosing the
patient for a slot picked on the calendar."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date, datetime, timedelta
from html import escape
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.responses import errors_message as _errors
from patients.selectors import patient_search

from . import grid as calendar_grid
from . import selectors, services
from .templatetags.calendar_grid import appt_block
from .templatetags.schedule import day_list_rows

# The days a calendar page may show (?date=): wide enough for any clinic, narrow enough that the previous and next
# day or week and the week's bounds stay valid dates (9999-12-31 overflowed them: a 500).
_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
REFRESH_SECONDS = 60


def _day(request) -> date:
    """The ?date= of a calendar page; today when it is missing, malformed or out of range."""
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate()
    return day if _FIRST_DAY <= day <= _LAST_DAY else timezone.localdate()


def _ids(request) -> list[int]:
    """The provider filter: one or several (?provider=1&provider=2); anything not a number is ignored."""
    return [int(p) for p in request.GET.getlist("provider") if p.isdigit() and len(p) < 10]


def _slot_type(request, types):
    """The appointment type the free slots are for (?appointment_type=), else the shortest; and the grid's step:
    the shortest type's length (a slot every 20 minutes when the shortest visit is 20 minutes)."""
    by_id = {str(t.pk): t for t in types}
    shortest = min(types, key=lambda t: t.duration_minutes) if types else None
    chosen = by_id.get(request.GET.get("appointment_type", "")) or shortest
    step = min(max(shortest.duration_minutes, 5), 60) if shortest else 15
    return chosen, step


def _filter_query(request) -> str:
    """The page's filter (provider, appointment_type) as a query string, for the previous and next links."""
    return urlencode([(k, v) for k in ("provider", "appointment_type") for v in request.GET.getlist(k)])


def _page(request, template: str, ctx: dict) -> HttpResponse:
    """The whole page, or only the grid when htmx refreshes it (every minute, keeping the scroll position)."""
    if request.htmx and request.htmx.target == "cal-refresh" and not request.htmx.history_restore_request:
        template = "scheduling/_grid.html"
    return render(request, template, {**ctx, "refresh_seconds": REFRESH_SECONDS})


# ------------------------------------------------------------------ the day
@login_required
@require_GET
def day_list(request: HttpRequest) -> HttpResponse:
    """The front desk's day: a time grid with a column per provider (free slots to click, the patient flow's
    steps in place, the now-line), or the list (?view=list) for many providers at once."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    day = _day(request)
    start, end = selectors.day_bounds(day)
    ids = _ids(request)
    items = selectors.calendar(
        actor=request.user, start=start, end=end, request=request, provider_ids=ids or None
    )
    everyone = selectors.providers_list()
    types = selectors.appointment_types()
    atype, step = _slot_type(request, types)
    ctx = {
        "items": items,
        "day": day,
        "day_iso": day.isoformat(),
        "prev": day - timedelta(days=1),
        "next": day + timedelta(days=1),
        "providers": everyone,
        "selected": ids,
        "types": types,
        "atype": atype,
        "query": _filter_query(request),
        "list_view": request.GET.get("view") == "list",
        "kind": "day",
    }
    if ctx["list_view"]:
        return render(request, "scheduling/day_list.html", ctx)
    shown = [p for p in everyone if p.pk in ids] if ids else everyone
    hours, offs = selectors.calendar_frames(provider_ids=[p.pk for p in shown], first=day, last=day)
    if not ids:  # everyone who works that day or has patients booked; all when nobody does
        busy = {h.provider_id for h in hours if h.weekday == day.weekday()} | {
            i.appointment.provider_id for i in items
        }
        shown = [p for p in shown if p.pk in busy] or shown
    ctx["grid"] = calendar_grid.build(
        days=[day],
        providers=shown,
        items=items,
        hours=hours,
        offs=offs,
        step=step,
        length=atype.duration_minutes if atype else step,
    )
    return _page(request, "scheduling/day_list.html", ctx)


# ------------------------------------------------------------------ the week
@login_required
@require_GET
def week(request: HttpRequest) -> HttpResponse:
    """The week of one provider (the viewer when a provider, else the first) or of several (?provider=1&provider=2,
    a column per provider on each day)."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    day = _day(request)
    monday = day - timedelta(days=day.weekday())
    everyone = selectors.providers_list()
    shown = _week_providers(request, everyone)
    start, _ = selectors.day_bounds(monday)
    _, end = selectors.day_bounds(monday + timedelta(days=6))
    items = selectors.calendar(
        actor=request.user, start=start, end=end, provider_ids=[p.pk for p in shown] or [0], request=request
    )
    hours, offs = selectors.calendar_frames(
        provider_ids=[p.pk for p in shown], first=monday, last=monday + timedelta(days=6)
    )
    worked = {h.weekday for h in hours} | {timezone.localtime(i.appointment.start).weekday() for i in items}
    days = [  # a weekend day only when someone works or is booked then
        monday + timedelta(days=i) for i in range(7) if i < 5 or i in worked
    ]
    types = selectors.appointment_types()
    atype, step = _slot_type(request, types)
    ctx = {
        "monday": monday,
        "kind": "week",
        "day_iso": monday.isoformat(),
        "prev": monday - timedelta(days=7),
        "next": monday + timedelta(days=7),
        "providers": everyone,
        "selected": [p.pk for p in shown],
        "types": types,
        "atype": atype,
        "query": urlencode(
            [("provider", p.pk) for p in shown]
            + ([("appointment_type", atype.pk)] if atype and request.GET.get("appointment_type") else [])
        ),
        "grid": calendar_grid.build(
            days=days,
            providers=shown,
            items=items,
            hours=hours,
            offs=offs,
            step=step,
            length=atype.duration_minutes if atype else step,
        ),
    }
    return _page(request, "scheduling/week.html", ctx)


def _week_providers(request, everyone: list) -> list:
    """The providers chosen (?provider=), else the viewer when a provider, else the first provider."""
    ids = _ids(request)
    chosen = [p for p in everyone if p.pk in ids]
    if chosen or not everyone:
        return chosen
    return [next((p for p in everyone if p.pk == request.user.pk), everyone[0])]


# ------------------------------------------------------------------ the patient flow, in place
def _pos(value: str) -> tuple[int, int, int, int] | None:
    try:
        r, s, c, lane = (int(x) for x in value.split(","))
    except ValueError:
        return None
    ok = 0 < r < 2000 and 0 < s < 2000 and 0 < c < 1000 and lane in (0, 1)
    return (r, s, c, lane) if ok else None


def _advanced_fragment(request, appointment_id, error: str) -> HttpResponse:
    """The block (day grid) or row (day list) of the appointment after a step, drawn again in place."""
    item = selectors.calendar_item(actor=request.user, appointment_id=appointment_id, request=request)
    if item is None:
        return HttpResponse("")
    csrf = get_token(request)
    day_iso = request.POST.get("date", "")[:10]
    pos = _pos(request.POST.get("pos", ""))
    if request.POST.get("kind") == "block" and pos is not None:
        r, s, c, lane = pos
        body = appt_block(item, r=r, s=s, c=c, lane=lane, csrf=csrf, day_iso=day_iso, flow=True, error=error)
    else:
        body = day_list_rows({"csrf_token": csrf, "day_iso": day_iso}, [item])
        if error:
            alert = f'<p class="error" role="alert">{escape(error)}</p>'
            body = body.replace('<td class="row-actions">', f'<td class="row-actions">{alert}', 1)
    return HttpResponse(body)


@login_required
@require_POST
def appointment_advance(request: HttpRequest, appointment_id) -> HttpResponse:
    """A step of the patient flow (arrived, checked in, in room...). From the day's grid or list with htmx, the
    block or row comes back drawn again (the page stays where it was); otherwise back to the page."""
    error = ""
    try:
        appt = services.appointment_advance(
            actor=request.user,
            appointment_id=appointment_id,
            status=request.POST.get("status", ""),
            request=request,
        )
    except ValidationError as exc:
        if request.htmx:
            error = " ".join(exc.messages)
        else:
            _errors(request, exc)
    else:
        if not request.htmx:
            messages.success(request, f"{appt.get_status_display()}.")
    if request.htmx:
        return _advanced_fragment(request, appointment_id, error)
    if request.POST.get("next") == "day":
        # Back to the day the desk was looking at, not today's list.
        day = request.POST.get("date", "")
        try:
            return redirect(f"{reverse('scheduling:day_list')}?date={date.fromisoformat(day).isoformat()}")
        except ValueError:
            return redirect("scheduling:day_list")
    return redirect("scheduling:appointment_detail", appointment_id=appointment_id)


# ------------------------------------------------------------------ a slot picked on the calendar: whose?
def _slot(request) -> dict:
    """The slot's provider, start (clinic local, minutes) and type from the query string; what is missing or
    malformed is left out (the booking form then asks for it)."""
    out: dict = {}
    provider = selectors.provider_get(provider_id=request.GET.get("provider"))
    if provider is not None:
        out["provider"] = provider
    with contextlib.suppress(ValueError):
        out["start"] = datetime.fromisoformat(request.GET.get("start", "")).replace(second=0, microsecond=0)
    types = {str(t.pk): t for t in selectors.appointment_types()}
    atype = types.get(request.GET.get("appointment_type", ""))
    if atype is not None:
        out["appointment_type"] = atype
    return out


def slot_query(slot: dict) -> str:
    q = {}
    if "provider" in slot:
        q["provider"] = slot["provider"].pk
    if "start" in slot:
        q["start"] = f"{slot['start']:%Y-%m-%dT%H:%M}"
    if "appointment_type" in slot:
        q["appointment_type"] = slot["appointment_type"].pk
    return urlencode(q)


@login_required
@require_GET
def book_slot(request: HttpRequest) -> HttpResponse:
    """A free slot clicked on the calendar: find the patient (or register a new one, who comes back here) and
    go on to the booking form with the slot filled in."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    slot = _slot(request)
    query = slot_query(slot)
    patient_id = request.GET.get("patient", "")
    try:
        chosen = uuid.UUID(patient_id) if patient_id else None
    except ValueError:
        chosen = None  # not a patient id: the search again
    if chosen is not None:  # the booking form checks the patient through the door
        return redirect(f"{reverse('scheduling:appointment_book', args=[chosen])}?{query}")
    q = request.GET.get("q", "").strip()[:200]
    rows = patient_search(actor=request.user, q=q, request=request, limit=10)[0] if q else []
    here = f"{reverse('scheduling:book_slot')}?{query}"
    return render(
        request,
        "scheduling/book_slot.html",
        {
            "slot": slot,
            "query": query,
            "q": q,
            "rows": rows,
            "register_url": f"{reverse('patients:register')}?{urlencode({'next': here})}"
            if request.user.has_perm("patients.register_patient")
            else "",
        },
    )


def slot_fields(request) -> dict:
    """The booking form's initial provider, type and start from a slot picked on the calendar ({} without one)."""
    if not any(k in request.GET for k in ("provider", "start", "appointment_type")):
        return {}
    slot = _slot(request)
    if "start" in slot:
        slot["start"] = f"{slot['start']:%Y-%m-%dT%H:%M}"
    return slot
