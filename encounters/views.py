"""Parse the request, call a selector or a service, render. No ORM here."""

from __future__ import annotations

from datetime import date, datetime, timedelta

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
from patients.selectors import patient_get

from . import forms, ical, recurrence, selectors, services


def _errors(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _back(request, default: str) -> HttpResponse:
    """Redirect to the page the form was on (a same-site path posted as `next`), else `default`."""
    from core.redirects import redirect_back

    return redirect_back(request, default, value=request.POST.get("next", ""))


def _aware(dt: datetime) -> datetime:
    return timezone.make_aware(dt, recurrence.clinic_tz()) if timezone.is_naive(dt) else dt


# The days a calendar page may show (?date=): wide enough for any clinic, narrow enough that the previous and next
# day or week and the week's bounds stay valid dates (9999-12-31 overflowed them: a 500).
_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def _day(request) -> date:
    """The ?date= of a calendar page; today when it is missing, malformed or out of range."""
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate()
    return day if _FIRST_DAY <= day <= _LAST_DAY else timezone.localdate()


# ------------------------------------------------------------------ schedule
@login_required
@require_GET
def day_list(request: HttpRequest) -> HttpResponse:
    """The front desk's day list: every provider's appointments of the day, with the patient flow."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    day = _day(request)
    start, end = selectors.day_bounds(day)
    ids = [
        int(p) for p in request.GET.getlist("provider") if p.isdigit()
    ]  # one, several (?provider=1&provider=2)
    items = selectors.calendar(
        actor=request.user, start=start, end=end, request=request, provider_ids=ids or None
    )
    return render(
        request,
        "encounters/day_list.html",
        {
            "items": items,
            "day": day,
            "day_iso": day.isoformat(),
            "prev": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "providers": ids,
        },
    )


@login_required
@require_GET
def week(request: HttpRequest) -> HttpResponse:
    """Week calendar for one or many providers (?provider=1&provider=2)."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    day = _day(request)
    monday = day - timedelta(days=day.weekday())
    ids = [int(p) for p in request.GET.getlist("provider") if p.isdigit()]
    start, _ = selectors.day_bounds(monday)
    _, end = selectors.day_bounds(monday + timedelta(days=6))
    items = selectors.calendar(
        actor=request.user, start=start, end=end, provider_ids=ids or None, request=request
    )
    by_day = {monday + timedelta(days=i): [] for i in range(7)}
    for i in items:  # in start order: each column stays sorted
        by_day.get(timezone.localtime(i.appointment.start).date(), []).append(i)
    columns = list(by_day.items())
    return render(
        request,
        "encounters/week.html",
        {
            "columns": columns,
            "monday": monday,
            "prev": monday - timedelta(days=7),
            "next": monday + timedelta(days=7),
            "providers": selectors.providers_list(),
            "selected": ids,
        },
    )


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
    form = forms.BookForm(request.POST or None)
    slots = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        room = d["room"]
        try:
            if d["rrule"]:
                series = services.series_create(
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
            slots = selectors.slots_next(
                provider=d["provider"],
                appointment_type=d["appointment_type"],
                after=_aware(d["start"]),
                limit=6,
            )
        else:
            return redirect("encounters:patient_schedule", patient_id=patient.pk)
    return render(
        request, "encounters/appointment_book.html", {"patient": patient, "form": form, "slots": slots}
    )


@login_required
@require_GET
def slots(request: HttpRequest) -> HttpResponse:
    """Next available slots (htmx fragment in the booking form)."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    provider = selectors.provider_get(provider_id=request.GET.get("provider"))
    types = {str(t.pk): t for t in selectors.appointment_types()}
    atype = types.get(request.GET.get("appointment_type", ""))
    rows = selectors.slots_next(provider=provider, appointment_type=atype) if provider and atype else []
    return render(request, "encounters/_slots.html", {"slots": rows})


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
        "encounters/patient_schedule.html",
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
        "encounters/appointment_detail.html",
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
            moved = services.series_occurrence_move(
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
    return redirect("encounters:appointment_detail", appointment_id=appointment_id)


@login_required
@require_POST
def appointment_cancel(request: HttpRequest, appointment_id) -> HttpResponse:
    form = forms.CancelForm(request.POST)
    reason = request.POST.get("reason", "")
    scope = form.cleaned_data["scope"] if form.is_valid() else "this"
    try:
        n = services.series_cancel(
            actor=request.user, appointment_id=appointment_id, reason=reason, scope=scope, request=request
        )
        messages.success(request, "Appointment cancelled." if n == 1 else f"{n} appointments cancelled.")
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:appointment_detail", appointment_id=appointment_id)


@login_required
@require_POST
def appointment_advance(request: HttpRequest, appointment_id) -> HttpResponse:
    try:
        appt = services.appointment_advance(
            actor=request.user,
            appointment_id=appointment_id,
            status=request.POST.get("status", ""),
            request=request,
        )
        messages.success(request, f"{appt.get_status_display()}.")
    except ValidationError as exc:
        _errors(request, exc)
    if request.POST.get("next") == "day":
        # Back to the day the desk was looking at, not today's list.
        day = request.POST.get("date", "")
        try:
            return redirect(f"{reverse('encounters:day_list')}?date={date.fromisoformat(day).isoformat()}")
        except ValueError:
            return redirect("encounters:day_list")
    return redirect("encounters:appointment_detail", appointment_id=appointment_id)


@login_required
@require_GET
def waitlist(request: HttpRequest) -> HttpResponse:
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    return render(
        request, "encounters/waitlist.html", {"rows": selectors.waitlist(actor=request.user, request=request)}
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
            services.waitlist_add(
                actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Added to the waitlist.")
            return redirect("encounters:waitlist")
    return render(request, "encounters/waitlist_add.html", {"patient": patient, "form": form})


@login_required
@require_POST
def waitlist_accept(request: HttpRequest, entry_id) -> HttpResponse:
    try:
        appt = services.waitlist_accept(actor=request.user, entry_id=entry_id, request=request)
    except ValidationError as exc:
        _errors(request, exc)
        return redirect("encounters:waitlist")
    messages.success(request, "Offer accepted: appointment booked.")
    return redirect("encounters:appointment_detail", appointment_id=appt.pk)


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
            "encounters/_waitlist_table.html",
            {"rows": selectors.waitlist(actor=request.user, request=request)},
        )
    return redirect("encounters:waitlist")


@login_required
@require_POST
def waitlist_remove(request: HttpRequest, entry_id) -> HttpResponse:
    """Take the patient off the waitlist (an open offer passes to the next waiting patient)."""
    return _waitlist_change(request, entry_id, services.waitlist_remove, "Removed from the waitlist.")


@login_required
@require_POST
def waitlist_decline(request: HttpRequest, entry_id) -> HttpResponse:
    """The patient declines the offered slot and keeps waiting."""
    return _waitlist_change(
        request, entry_id, services.waitlist_decline, "Offer declined; the patient keeps waiting."
    )


@login_required
@require_http_methods(["GET", "POST"])
def time_off(request: HttpRequest) -> HttpResponse:
    """Providers' time off and blocked time, for the front desk (the practice admin also has the Django admin)."""
    if not request.user.has_perm("encounters.manage_calendar"):
        raise PermissionDenied
    form = forms.TimeOffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            _, clashing = services.time_off_add(
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
            return redirect("encounters:time_off")
    return render(request, "encounters/time_off.html", {"form": form, "rows": selectors.time_off_upcoming()})


@login_required
@require_POST
def time_off_delete(request: HttpRequest, time_off_id: int) -> HttpResponse:
    if not request.user.has_perm("encounters.manage_calendar"):
        raise PermissionDenied
    services.time_off_delete(actor=request.user, time_off_id=time_off_id)
    messages.success(request, "Time off removed.")
    return redirect("encounters:time_off")


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
    the credential. No patient information in it (encounters/ical.py); each read is audited as the provider's."""
    feed = selectors.provider_feed_by_token(token=token)
    if feed is None:
        raise Http404
    rows = selectors.provider_feed_appointments(feed=feed, request=request)
    services.provider_feed_used(feed_id=feed.pk)
    return _ics(ical.feed_subscription(provider=feed.provider, appointments=rows))


@login_required
@require_http_methods(["GET", "POST"])
def calendar_feed(request: HttpRequest) -> HttpResponse:
    """Create, replace or revoke a provider's subscription address. Providers manage their own; the front desk and
    practice admins anyone's (provider=<id>)."""
    user = request.user
    manager = user.has_perm("encounters.manage_calendar")
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
            services.provider_feed_revoke(actor=user, provider=provider)
            messages.success(request, "Subscription revoked: the old address no longer works.")
        else:
            token = services.provider_feed_issue(actor=user, provider=provider)
            # Shown once, on this response: only the token's hash is stored.
            url = request.build_absolute_uri(reverse("encounters:provider_feed_ics", args=[token]))
            messages.success(request, "New subscription address created; any earlier one stopped working.")
    return render(
        request,
        "encounters/calendar_feed.html",
        {
            "provider": provider,
            "feed": selectors.provider_feed_status(provider=provider) if provider else None,
            "url": url,
            "providers": selectors.providers_list() if manager else [],
        },
    )


# ------------------------------------------------------------------ clinical
@login_required
@require_GET
def timeline(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.ENCOUNTERS,
        request=request,
    )
    try:
        page = selectors.encounters_page(patient=patient, cursor=request.GET.get("after"))
    except selectors.BadCursor:
        # A mangled "older" link: say so and show the newest page rather than fail.
        messages.warning(request, "That page link was not valid; showing the most recent encounters.")
        page = selectors.encounters_page(patient=patient)
    return render(
        request,
        "encounters/timeline.html",
        {"patient": patient, "page": page, "start_form": forms.EncounterStartForm()},
    )


@login_required
@require_POST
def encounter_start(request: HttpRequest, patient_id) -> HttpResponse:
    form = forms.EncounterStartForm(request.POST)
    if not form.is_valid():
        patient_get(
            actor=request.user,
            patient_id=patient_id,
            perm=roles.CHANGE_CLINICAL,
            category=categories.ENCOUNTER,
            request=request,
            record=False,
        )
        messages.error(request, "Choose an encounter type.")
        return redirect("encounters:timeline", patient_id=patient_id)
    enc = services.encounter_start(
        actor=request.user, patient_id=patient_id, request=request, **form.cleaned_data
    )
    return redirect(enc)


def _prefix(note_id) -> str:
    return str(note_id)[:8]


def _note_form(note, *, data: dict | None = None, version: int | None = None) -> forms.NoteForm:
    values = data or {f: getattr(note, f) for f in services.NOTE_SECTIONS}
    return forms.NoteForm(
        initial={
            **{f: values.get(f, "") for f in services.NOTE_SECTIONS},
            "version": version or note.version,
        },
        prefix=_prefix(note.pk),
    )


def _encounter_page(
    request, encounter_id, *, conflict: dict | None = None, status: int = 200
) -> HttpResponse:
    """The encounter page. `conflict` (a refused save) = {"note_id", "data": the editor's text, "version": the
    version they edited, "current": the note as stored}: their text stays in the form, the stored version is shown
    beside it, and nothing typed is lost (for a note signed meanwhile, the text is offered as an addendum)."""
    enc = selectors.encounter_get(actor=request.user, encounter_id=encounter_id, request=request)
    notes = []
    unsaved = ""
    for n in selectors.encounter_notes(encounter=enc):
        mine = conflict if conflict and conflict["note_id"] == n.pk else None
        if n.signed:
            if mine:
                unsaved = "\n\n".join(
                    f"{f.capitalize()}: {mine['data'][f]}"
                    for f in services.NOTE_SECTIONS
                    if (mine["data"].get(f) or "").strip() and mine["data"][f] != getattr(n, f)
                )
            notes.append({"note": n, "form": None})
        elif mine:
            notes.append(
                {
                    "note": n,
                    "form": _note_form(n, data=mine["data"], version=mine["version"]),
                    "theirs": mine["current"],
                }
            )
        else:
            notes.append({"note": n, "form": _note_form(n)})
    return render(
        request,
        "encounters/encounter_detail.html",
        {
            "enc": enc,
            "patient": enc.patient,
            "notes": notes,
            "vitals": [(v, selectors.vitals_rows(v)) for v in selectors.encounter_vitals(encounter=enc)],
            "vitals_form": forms.VitalsForm(),
            "addendum_form": forms.AddendumForm(initial={"text": unsaved} if unsaved else None),
            "unsaved": unsaved,
            "amendment_form": forms.AmendmentForm(),
            "templates": selectors.note_templates(encounter_type=enc.encounter_type),
        },
        status=status,
    )


@login_required
@require_GET
def encounter_detail(request: HttpRequest, encounter_id) -> HttpResponse:
    return _encounter_page(request, encounter_id)


@login_required
@require_POST
def note_create(request: HttpRequest, encounter_id) -> HttpResponse:
    """Start a note from the template the clinician picked ("blank" for none)."""
    choice = request.POST.get("template", "")
    try:
        services.note_create(
            actor=request.user,
            encounter_id=encounter_id,
            template_id=choice if choice.isdigit() else None,
            blank=choice == "blank",
            request=request,
        )
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=encounter_id)


def _note_data(request, note_id) -> tuple[dict, int]:
    prefix = _prefix(note_id) + "-"
    data = {k.removeprefix(prefix): v for k, v in request.POST.items()}
    try:
        version = int(data.get("version", ""))
    except ValueError:
        version = -1
    return data, version


@login_required
@require_POST
def note_save(request: HttpRequest, note_id) -> HttpResponse:
    """Save a draft. htmx autosave posts here after each pause in typing and gets the status fragment back (with
    the new version out of band); Save and Sign post the whole form. A conflict answers 409 with both versions."""
    data, version = _note_data(request, note_id)
    if data.get("base_version", "").isdigit():
        # "Keep my text": the editor has seen the stored version (shown with the conflict) and replaces it.
        version = int(data["base_version"])
    try:
        note = services.note_save_draft(
            actor=request.user, note_id=note_id, version=version, data=data, request=request
        )
    except services.NoteConflict as exc:
        if request.htmx:
            return render(
                request,
                "encounters/_note_status.html",
                {"error": " ".join(exc.messages), "theirs": exc.current, "prefix": _prefix(note_id)},
                status=409,
            )
        messages.error(request, " ".join(exc.messages))
        conflict = {"note_id": exc.current.pk, "data": data, "version": version, "current": exc.current}
        return _encounter_page(request, exc.current.encounter_id, conflict=conflict, status=409)
    except ValidationError as exc:
        if request.htmx:
            return render(
                request,
                "encounters/_note_status.html",
                {"error": " ".join(exc.messages), "prefix": _prefix(note_id)},
                status=409,
            )
        _errors(request, exc)
        return redirect("encounters:encounter_detail", encounter_id=services.note_encounter_id(note_id))
    if request.htmx:
        return render(request, "encounters/_note_status.html", {"note": note, "prefix": _prefix(note_id)})
    if "sign" in request.POST:
        try:
            note = services.note_sign(
                actor=request.user, note_id=note.pk, version=note.version, request=request
            )
            messages.success(request, "Note signed.")
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, "Draft saved.")
    return redirect("encounters:encounter_detail", encounter_id=note.encounter_id)


@login_required
@require_POST
def addendum_add(request: HttpRequest, note_id) -> HttpResponse:
    try:
        add = services.addendum_add(
            actor=request.user, note_id=note_id, text=request.POST.get("text", ""), request=request
        )
        messages.success(request, "Addendum added.")
        return redirect("encounters:encounter_detail", encounter_id=add.note.encounter_id)
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=services.note_encounter_id(note_id))


@login_required
@require_POST
def amendment_add(request: HttpRequest, note_id) -> HttpResponse:
    try:
        services.amendment_request_record(
            actor=request.user,
            note_id=note_id,
            requested_text=request.POST.get("requested_text", ""),
            request=request,
        )
        messages.success(request, "Amendment request recorded.")
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=services.note_encounter_id(note_id))


@login_required
@require_POST
def amendment_decide(request: HttpRequest, amendment_id) -> HttpResponse:
    form = forms.AmendmentDecideForm(request.POST)
    accept = form.is_valid() and form.cleaned_data["decision"] == "accept"
    try:
        am = services.amendment_decide(
            actor=request.user,
            amendment_id=amendment_id,
            accept=accept,
            reason=request.POST.get("decision_reason", ""),
            request=request,
        )
        messages.success(request, f"Amendment {am.get_status_display().lower()}.")
        return redirect("encounters:encounter_detail", encounter_id=am.note.encounter_id)
    except ValidationError as exc:
        _errors(request, exc)
    return redirect(
        "encounters:encounter_detail",
        encounter_id=selectors.amendment_encounter_id(amendment_id=amendment_id),
    )


@login_required
@require_POST
def vitals_add(request: HttpRequest, encounter_id) -> HttpResponse:
    enc = services.encounter_for_write(
        actor=request.user, encounter_id=encounter_id, request=request, category=categories.VITALS
    )
    form = forms.VitalsForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    else:
        try:
            services.vitals_record(
                actor=request.user,
                patient_id=enc.patient_id,
                encounter_id=enc.pk,
                values=form.cleaned_data,
                request=request,
            )
            messages.success(request, "Vital signs recorded.")
        except ValidationError as exc:
            _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=enc.pk)


@login_required
@require_GET
def vitals_trend(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.VITALS,
        request=request,
    )
    trend = selectors.vitals_trend(patient=patient, field=request.GET.get("field", "systolic"))
    return render(request, "encounters/vitals_trend.html", {"patient": patient, "trend": trend})


def _clinical_list(
    request, patient_id, *, category: str, form_class, add, added: str, page: str, template: str, rows
) -> HttpResponse:
    """A clinical list page (problems, medications, immunizations): read through the door with the page's data
    category; those who may document add to it (POST, then redirect back)."""
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=category,
        request=request,
    )
    form = form_class(request.POST or None)
    if request.method == "POST":
        if not patient.access.can_document:
            raise PermissionDenied
        if form.is_valid():
            try:
                add(actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, added)
                return redirect(page, patient_id=patient.pk)
    return render(
        request,
        template,
        {
            "patient": patient,
            "form": form,
            "rows": rows(patient=patient),
            "can_document": patient.access.can_document,
            "today": timezone.localdate(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def problems(request: HttpRequest, patient_id) -> HttpResponse:
    return _clinical_list(
        request,
        patient_id,
        category=categories.PROBLEMS,
        form_class=forms.ProblemForm,
        add=services.problem_add,
        added="Problem added.",
        page="encounters:problems",
        template="encounters/problems.html",
        rows=selectors.problems_all,
    )


def _row_or_back(request, template: str, context: dict, default: str, done: str) -> HttpResponse:
    """htmx: the changed table row (its buttons, and any error inside it); otherwise back to the list with a
    message. The row is only ever rendered after a write the service allowed, or for a reader of the chart."""
    if request.htmx:
        return render(request, template, {**context, "can_document": True, "today": timezone.localdate()})
    if context.get("errors"):
        messages.error(request, " ".join(context["errors"]))
    else:
        messages.success(request, done)
    return redirect(default)


@login_required
@require_POST
def problem_status(request: HttpRequest, problem_id) -> HttpResponse:
    """Resolve, inactivate, reactivate or mark entered in error (buttons on the problem list)."""
    form = forms.ProblemStatusForm(request.POST)
    errors = []
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        problem = None
    else:
        try:
            problem = services.problem_status_set(
                actor=request.user,
                problem_id=problem_id,
                status=form.cleaned_data["status"],
                resolved_date=form.cleaned_data["resolved_date"],
                request=request,
            )
        except ValidationError as exc:
            errors, problem = exc.messages, None
    if problem is None:
        problem = selectors.problem_get(actor=request.user, problem_id=problem_id, request=request)
    return _row_or_back(
        request,
        "encounters/_problem_row.html",
        {"p": problem, "errors": errors},
        reverse("encounters:problems", args=[problem.patient_id]),
        f"{problem.description}: {problem.get_status_display().lower()}.",
    )


@login_required
@require_GET
def icd10_search(request: HttpRequest) -> HttpResponse:
    if roles.VIEW_CLINICAL not in roles.patient_permissions_for_roles(roles.user_roles(request.user)):
        raise PermissionDenied
    return render(
        request,
        "encounters/_icd10_results.html",
        {"rows": selectors.icd10_search(q=request.GET.get("q", ""))},
    )


@login_required
@require_GET
def allergen_search(request: HttpRequest) -> HttpResponse:
    """Drug ingredients from the medication catalog, for the allergy form (htmx fragment; click fills the form)."""
    if roles.VIEW_CLINICAL not in roles.patient_permissions_for_roles(roles.user_roles(request.user)):
        raise PermissionDenied
    return render(
        request,
        "encounters/_allergen_results.html",
        {
            "rows": selectors.allergen_search(
                q=request.GET.get("substance_text", "") or request.GET.get("q", "")
            )
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def allergies(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
    )
    form = forms.AllergyForm(request.POST or None)
    if request.method == "POST":
        if not patient.access.can_document:
            raise PermissionDenied
        try:
            if "nka" in request.POST:
                services.allergy_none_known(actor=request.user, patient_id=patient.pk, request=request)
                messages.success(request, "Recorded: no known allergies.")
                return redirect("encounters:allergies", patient_id=patient.pk)
            if form.is_valid():
                services.allergy_record(
                    actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data
                )
                messages.success(request, "Allergy recorded.")
                return redirect("encounters:allergies", patient_id=patient.pk)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
    return render(
        request,
        "encounters/allergies.html",
        {
            "patient": patient,
            "form": form,
            "rows": selectors.allergies_all(patient=patient),
            "statuses": forms.AllergyStatusForm.base_fields["status"].choices,
        },
    )


@login_required
@require_POST
def allergy_status(request: HttpRequest, allergy_id) -> HttpResponse:
    """Change an allergy's status. The whole page reloads (htmx: HX-Refresh) so the banner shows the change."""
    form = forms.AllergyStatusForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose a status.")
        allergy = services.allergy_status_set(
            actor=request.user, allergy_id=allergy_id, status=form.cleaned_data["status"], request=request
        )
        messages.success(request, f"{allergy.substance_text}: {allergy.get_status_display().lower()}.")
        patient_id = allergy.patient_id
    except ValidationError as exc:
        _errors(request, exc)
        patient_id = selectors.allergy_get(
            actor=request.user, allergy_id=allergy_id, request=request
        ).patient_id
    url = reverse("encounters:allergies", args=[patient_id])
    if request.htmx:
        resp = HttpResponse(status=204)
        resp["HX-Refresh"] = "true"
        return resp
    return redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def medications(request: HttpRequest, patient_id) -> HttpResponse:
    return _clinical_list(
        request,
        patient_id,
        category=categories.MEDICATIONS,
        form_class=forms.MedicationForm,
        add=services.medication_record,
        added="Medication added.",
        page="encounters:medications",
        template="encounters/medications.html",
        rows=selectors.medications_all,
    )


@login_required
@require_POST
def medication_stop(request: HttpRequest, medication_id) -> HttpResponse:
    """Stop a medication (or mark it completed / entered in error), from the medication list."""
    form = forms.MedicationStopForm(request.POST)
    errors, med = [], None
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
    else:
        try:
            med = services.medication_stop(
                actor=request.user,
                medication_id=medication_id,
                status=form.cleaned_data["status"],
                stopped_on=form.cleaned_data["stopped_on"],
                request=request,
            )
        except ValidationError as exc:
            errors = exc.messages
    if med is None:
        med = selectors.medication_get(actor=request.user, medication_id=medication_id, request=request)
    return _row_or_back(
        request,
        "encounters/_medication_row.html",
        {"m": med, "errors": errors},
        reverse("encounters:medications", args=[med.patient_id]),
        f"{med.name}: {med.get_status_display().lower()}.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def immunizations(request: HttpRequest, patient_id) -> HttpResponse:
    """The immunization history; clinicians record a vaccine by hand (CVX code, date, lot)."""
    return _clinical_list(
        request,
        patient_id,
        category=categories.IMMUNIZATIONS,
        form_class=forms.ImmunizationForm,
        add=services.immunization_record,
        added="Immunization recorded.",
        page="encounters:immunizations",
        template="encounters/immunizations.html",
        rows=selectors.immunizations_all,
    )


@login_required
@require_GET
def results(request: HttpRequest, patient_id) -> HttpResponse:
    """Laboratory and other results, grouped by test, newest first (read-only: they arrive by import)."""
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.RESULTS,
        request=request,
    )
    return render(
        request,
        "encounters/results.html",
        {"patient": patient, "groups": selectors.results_all(patient=patient)},
    )
