"""Scheduling pages: booking, moving and cancelling, the waitlist, time off, calendar feeds (the day and the week
are in views_calendar.py)."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit import categories
from core.responses import errors_message as _errors
from patients.selectors import patient_get

from . import calendars, forms, ical, recurrence, selectors, services, views_calendar
from . import series as recurring
from . import waitlist as waitlists


def _aware(dt: datetime) -> datetime:
    return timezone.make_aware(dt, recurrence.clinic_tz()) if timezone.is_naive(dt) else dt


@login_required
@require_http_methods(["GET", "POST"])
def appointment_book(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    # A slot picked on the calendar (views_calendar.book_slot) comes filled in: provider, start, type.
    slot = views_calendar.slot_fields(request)
    form = forms.BookForm(request.POST or None, initial=slot)
    slots = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        room = d["room"]
        try:
            if d["rrule"]:
                series = recurring.series_create(
                    actor=request.user,
                    patient_id=patient.pk,
                    provider=d["provider"],
                    appointment_type=d["appointment_type"],
                    dtstart=_aware(d["start"]),
                    rrule=d["rrule"],
                    room=room,
                    reason=d["reason"],
                    override_reason=d["override_reason"],
                    request=request,
                )
                n = selectors.series_booked_count(series=series)
                if series.fully_materialised:
                    messages.success(request, f"Booked a series of {n} appointments.")
                else:
                    messages.success(
                        request,
                        f"Booked the first {n} appointments of the series (up to "
                        f"{series.materialised_until:%d %b %Y}); the next ones are booked automatically as "
                        "time passes.",
                    )
            else:
                services.appointment_book(
                    actor=request.user,
                    patient_id=patient.pk,
                    provider=d["provider"],
                    appointment_type=d["appointment_type"],
                    start=_aware(d["start"]),
                    room=room,
                    reason=d["reason"],
                    override_reason=d["override_reason"],
                    request=request,
                )
                messages.success(request, "Appointment booked.")
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            return redirect("scheduling:patient_schedule", patient_id=patient.pk)
    # The free slots for the provider, type and day chosen, at once (htmx asks slots() again on each change).
    chosen = _slot_choice(form)
    if chosen:
        slots = selectors.slots_next(**chosen, limit=SLOTS_SHOWN)
    return render(
        request,
        "scheduling/appointment_book.html",
        {"patient": patient, "form": form, "slots": slots, "slots_asked": bool(chosen)},
    )


SLOTS_SHOWN = 12


def _slot_choice(form) -> dict:
    """Provider, type and the day to look from, as the form holds them (posted or filled in), or {}."""
    data = form.data if form.is_bound else form.initial
    provider = data.get("provider")
    provider = provider if hasattr(provider, "pk") else selectors.provider_get(provider_id=provider)
    atype = data.get("appointment_type")
    if not hasattr(atype, "pk"):
        atype = {str(t.pk): t for t in selectors.appointment_types()}.get(str(atype or ""))
    if provider is None or atype is None:
        return {}
    return {"provider": provider, "appointment_type": atype, "after": _day_start(data.get("start"))}


def _day_start(value) -> datetime | None:
    """The start of the day of a start field's value ("2026-12-08T09:20", a datetime, or anything else: None)."""
    try:
        day = value.date() if isinstance(value, datetime) else date.fromisoformat(str(value or "")[:10])
    except ValueError:
        return None
    return selectors.day_bounds(day)[0]


@login_required
@require_GET
def slots(request: HttpRequest) -> HttpResponse:
    """Next available slots (htmx fragment in the booking form)."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    form = forms.BookForm(request.GET)  # unbound values only: the fields the booking form sends
    chosen = _slot_choice(form)
    rows = selectors.slots_next(**chosen, limit=SLOTS_SHOWN) if chosen else []
    return render(request, "scheduling/_slots.html", {"slots": rows, "slots_asked": bool(chosen)})


@login_required
@require_GET
def patient_schedule(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    return render(
        request,
        "scheduling/patient_schedule.html",
        {
            "patient": patient,
            "rows": selectors.patient_appointments(patient=patient),
            "notices": selectors.series_notices(patient=patient),
        },
    )


@login_required
@require_GET
def appointment_detail(request: HttpRequest, appointment_id) -> HttpResponse:
    appt = selectors.appointment_get(actor=request.user, appointment_id=appointment_id, request=request)
    local = timezone.localtime(appt.start).replace(tzinfo=None)
    return render(
        request,
        "scheduling/appointment_detail.html",
        {
            "appt": appt,
            "patient": appt.patient,
            "flow": services.FLOW.get(appt.status, ()),
            # Two forms on one page: distinct ids so each label points at its own field.
            "move_form": forms.MoveForm(
                initial={"start": local.strftime("%Y-%m-%dT%H:%M")}, auto_id="move_%s"
            ),
            "cancel_form": forms.CancelForm(auto_id="cancel_%s"),
        },
    )


@login_required
@require_POST
def appointment_move(request: HttpRequest, appointment_id) -> HttpResponse:
    form = forms.MoveForm(request.POST)
    if form.is_valid():
        try:
            moved = recurring.series_occurrence_move(
                actor=request.user,
                appointment_id=appointment_id,
                start=_aware(form.cleaned_data["start"]),
                scope=form.cleaned_data["scope"],
                override_reason=form.cleaned_data["override_reason"],
                request=request,
            )
            messages.success(
                request, "Appointment moved." if len(moved) == 1 else f"{len(moved)} appointments moved."
            )
        except ValidationError as exc:
            _errors(request, exc)
    else:
        selectors.appointment_get(actor=request.user, appointment_id=appointment_id, request=request)
        messages.error(
            request,
            "Enter the new date and time."
            if "start" in form.errors
            else " ".join(e for errs in form.errors.values() for e in errs),
        )
    return redirect("scheduling:appointment_detail", appointment_id=appointment_id)


@login_required
@require_POST
def appointment_cancel(request: HttpRequest, appointment_id) -> HttpResponse:
    form = forms.CancelForm(request.POST)
    reason = request.POST.get("reason", "")
    scope = form.cleaned_data["scope"] if form.is_valid() else "this"
    try:
        n = recurring.series_cancel(
            actor=request.user, appointment_id=appointment_id, reason=reason, scope=scope, request=request
        )
        messages.success(request, "Appointment cancelled." if n == 1 else f"{n} appointments cancelled.")
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("scheduling:appointment_detail", appointment_id=appointment_id)


@login_required
@require_GET
def waitlist(request: HttpRequest) -> HttpResponse:
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    return render(
        request, "scheduling/waitlist.html", {"rows": selectors.waitlist(actor=request.user, request=request)}
    )


@login_required
@require_http_methods(["GET", "POST"])
def waitlist_add(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    form = forms.WaitlistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            waitlists.waitlist_add(
                actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Added to the waitlist.")
            return redirect("scheduling:waitlist")
    return render(request, "scheduling/waitlist_add.html", {"patient": patient, "form": form})


@login_required
@require_POST
def waitlist_accept(request: HttpRequest, entry_id) -> HttpResponse:
    try:
        appt = waitlists.waitlist_accept(actor=request.user, entry_id=entry_id, request=request)
    except ValidationError as exc:
        _errors(request, exc)
        return redirect("scheduling:waitlist")
    messages.success(request, "Offer accepted: appointment booked.")
    return redirect("scheduling:appointment_detail", appointment_id=appt.pk)


def _waitlist_change(request, entry_id, service, done: str) -> HttpResponse:
    try:
        service(actor=request.user, entry_id=entry_id, request=request)
        messages.success(request, done)
    except ValidationError as exc:
        _errors(request, exc)
    if request.htmx:
        # The table is re-rendered whole (the row goes or changes) with the message above it.
        return render(
            request,
            "scheduling/_waitlist_table.html",
            {"rows": selectors.waitlist(actor=request.user, request=request)},
        )
    return redirect("scheduling:waitlist")


@login_required
@require_POST
def waitlist_remove(request: HttpRequest, entry_id) -> HttpResponse:
    """Take the patient off the waitlist (an open offer passes to the next waiting patient)."""
    return _waitlist_change(request, entry_id, waitlists.waitlist_remove, "Removed from the waitlist.")


@login_required
@require_POST
def waitlist_decline(request: HttpRequest, entry_id) -> HttpResponse:
    """The patient declines the offered slot and keeps waiting."""
    return _waitlist_change(
        request, entry_id, waitlists.waitlist_decline, "Offer declined; the patient keeps waiting."
    )


@login_required
@require_http_methods(["GET", "POST"])
def time_off(request: HttpRequest) -> HttpResponse:
    """Providers' time off and blocked time, for the front desk (the practice admin also has the Django admin)."""
    if not request.user.has_perm("scheduling.manage_calendar"):
        raise PermissionDenied
    form = forms.TimeOffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            _, clashing = calendars.time_off_add(
                actor=request.user,
                provider=d["provider"],
                kind=d["kind"],
                start=_aware(d["start"]),
                end=_aware(d["end"]),
                reason=d["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Time off recorded.")
            if clashing:
                messages.warning(
                    request,
                    f"{clashing} booked appointment{'s' if clashing > 1 else ''} of this provider fall in that "
                    "time: move or cancel them from the day list.",
                )
            return redirect("scheduling:time_off")
    return render(request, "scheduling/time_off.html", {"form": form, "rows": selectors.time_off_upcoming()})


@login_required
@require_POST
def time_off_delete(request: HttpRequest, time_off_id: int) -> HttpResponse:
    if not request.user.has_perm("scheduling.manage_calendar"):
        raise PermissionDenied
    calendars.time_off_delete(actor=request.user, time_off_id=time_off_id)
    messages.success(request, "Time off removed.")
    return redirect("scheduling:time_off")


def _ics(body: bytes) -> HttpResponse:
    resp = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    resp["Content-Disposition"] = 'inline; filename="schedule.ics"'
    return resp


@login_required
@require_GET
def provider_ical(request: HttpRequest, provider_id: int) -> HttpResponse:
    """Signed-in iCalendar download (RFC 5545) of a provider's appointments; names only where the viewer may
    see them."""
    provider = selectors.provider_get(provider_id=provider_id)
    if provider is None or not selectors.can_view_schedules(request.user):
        raise Http404
    items = selectors.provider_feed(actor=request.user, provider=provider, request=request)
    return _ics(ical.feed_signed_in(provider=provider, items=items))


@require_GET
def provider_feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The calendar-app subscription: no session (calendar apps cannot sign in); the secret token in the URL is
    the credential. No patient information in it (scheduling/ical.py); each read is audited as the provider's."""
    feed = selectors.provider_feed_by_token(token=token)
    if feed is None:
        raise Http404
    rows = selectors.provider_feed_appointments(feed=feed, request=request)
    calendars.provider_feed_used(feed_id=feed.pk)
    return _ics(ical.feed_subscription(provider=feed.provider, appointments=rows))


@login_required
@require_http_methods(["GET", "POST"])
def calendar_feed(request: HttpRequest) -> HttpResponse:
    """Create, replace or revoke a provider's subscription address. Providers manage their own; the front desk and
    practice admins anyone's (provider=<id>)."""
    user = request.user
    manager = user.has_perm("scheduling.manage_calendar")
    if not (manager or selectors.can_view_schedules(user)):
        raise PermissionDenied
    wanted = request.POST.get("provider") or request.GET.get("provider")
    provider = selectors.provider_get(provider_id=wanted or user.pk)
    if wanted and provider is None:
        raise Http404
    if provider is not None and provider.pk != user.pk and not manager:
        raise PermissionDenied
    url = None
    if request.method == "POST":
        if provider is None:
            raise Http404
        if request.POST.get("action") == "revoke":
            calendars.provider_feed_revoke(actor=user, provider=provider)
            messages.success(request, "Subscription revoked: the old address no longer works.")
        else:
            token = calendars.provider_feed_issue(actor=user, provider=provider)
            # Shown once, on this response: only the token's hash is stored.
            url = request.build_absolute_uri(reverse("scheduling:provider_feed_ics", args=[token]))
            messages.success(request, "New subscription address created; any earlier one stopped working.")
    return render(
        request,
        "scheduling/calendar_feed.html",
        {
            "provider": provider,
            "feed": selectors.provider_feed_status(provider=provider) if provider else None,
            "url": url,
            "providers": selectors.providers_list() if manager else [],
        },
    )
