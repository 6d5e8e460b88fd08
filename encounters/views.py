"""Parse the request, call a selector or a service, render. No ORM here."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
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

from . import forms, recurrence, selectors, services


def _errors(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _aware(dt: datetime) -> datetime:
    return timezone.make_aware(dt, recurrence.clinic_tz()) if timezone.is_naive(dt) else dt


def _day(request) -> date:
    try:
        return date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate()


# ------------------------------------------------------------------ schedule
@login_required
@require_GET
def day_list(request: HttpRequest) -> HttpResponse:
    """The front desk's day list: every provider's appointments of the day, with the patient flow."""
    if not selectors.can_view_schedules(request.user):
        raise PermissionDenied
    day = _day(request)
    start, end = selectors.day_bounds(day)
    provider = request.GET.get("provider")
    items = selectors.calendar(
        actor=request.user,
        start=start,
        end=end,
        request=request,
        provider_ids=[int(provider)] if provider and provider.isdigit() else None,
    )
    return render(
        request,
        "encounters/day_list.html",
        {
            "items": items,
            "day": day,
            "prev": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "flow": services.FLOW,
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
    days = [monday + timedelta(days=i) for i in range(7)]
    columns = [(d, [i for i in items if timezone.localtime(i.appointment.start).date() == d]) for d in days]
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
                    request=request,
                )
                messages.success(request, f"Booked a series of {series.appointments.count()} appointments.")
            else:
                services.appointment_book(
                    actor=request.user,
                    patient_id=patient.pk,
                    provider=d["provider"],
                    appointment_type=d["appointment_type"],
                    start=_aware(d["start"]),
                    room=room,
                    reason=d["reason"],
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
    provider = (
        get_user_model().objects.filter(pk=request.GET.get("provider") or 0, is_active=True).first()
        if (request.GET.get("provider") or "").isdigit()
        else None
    )
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
        {"patient": patient, "rows": selectors.patient_appointments(patient=patient)},
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
            services.series_occurrence_move(
                actor=request.user,
                appointment_id=appointment_id,
                start=_aware(form.cleaned_data["start"]),
                scope=form.cleaned_data["scope"],
                request=request,
            )
            messages.success(request, "Appointment moved.")
        except ValidationError as exc:
            _errors(request, exc)
    else:
        selectors.appointment_get(actor=request.user, appointment_id=appointment_id, request=request)
        messages.error(request, "Enter the new date and time.")
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
    if not request.user.has_perm("encounters.view_provider_schedule"):
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


@login_required
@require_GET
def provider_ical(request: HttpRequest, provider_id: int) -> HttpResponse:
    """iCalendar feed (RFC 5545) of a provider's appointments; names only where the viewer may see them."""
    provider = get_user_model().objects.filter(pk=provider_id, is_active=True).first()
    if provider is None or not selectors.can_view_schedules(request.user):
        raise Http404
    items = selectors.provider_feed(actor=request.user, provider=provider, request=request)
    body = (
        render(
            request,
            "encounters/provider.ics",
            {"items": items, "now": timezone.now()},
            content_type="text/calendar; charset=utf-8",
        )
        .content.decode()
        .replace("\r\n", "\n")
    )
    return HttpResponse(body.replace("\n", "\r\n"), content_type="text/calendar; charset=utf-8")


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
    page = selectors.encounters_page(patient=patient, cursor=request.GET.get("after"))
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


@login_required
@require_GET
def encounter_detail(request: HttpRequest, encounter_id) -> HttpResponse:
    enc = selectors.encounter_get(actor=request.user, encounter_id=encounter_id, request=request)
    notes = selectors.encounter_notes(encounter=enc)
    return render(
        request,
        "encounters/encounter_detail.html",
        {
            "enc": enc,
            "patient": enc.patient,
            "notes": [
                (
                    n,
                    forms.NoteForm(
                        initial={
                            "subjective": n.subjective,
                            "objective": n.objective,
                            "assessment": n.assessment,
                            "plan": n.plan,
                            "version": n.version,
                        },
                        prefix=str(n.pk)[:8],
                    )
                    if not n.signed
                    else None,
                )
                for n in notes
            ],
            "vitals": [(v, selectors.vitals_rows(v)) for v in selectors.encounter_vitals(encounter=enc)],
            "vitals_form": forms.VitalsForm(),
            "addendum_form": forms.AddendumForm(),
            "amendment_form": forms.AmendmentForm(),
            "templates": selectors.note_templates(encounter_type=enc.encounter_type),
        },
    )


@login_required
@require_POST
def note_create(request: HttpRequest, encounter_id) -> HttpResponse:
    services.note_create(actor=request.user, encounter_id=encounter_id, request=request)
    return redirect("encounters:encounter_detail", encounter_id=encounter_id)


def _note_data(request, note_id) -> tuple[dict, int]:
    prefix = str(note_id)[:8] + "-"
    data = {k.removeprefix(prefix): v for k, v in request.POST.items()}
    try:
        version = int(data.get("version", ""))
    except ValueError:
        version = -1
    return data, version


@login_required
@require_POST
def note_save(request: HttpRequest, note_id) -> HttpResponse:
    """Save a draft; htmx autosave posts here every few seconds and gets a status fragment back."""
    data, version = _note_data(request, note_id)
    try:
        note = services.note_save_draft(
            actor=request.user, note_id=note_id, version=version, data=data, request=request
        )
    except ValidationError as exc:
        if request.htmx:
            return render(
                request, "encounters/_note_status.html", {"error": " ".join(exc.messages)}, status=409
            )
        _errors(request, exc)
        return redirect("encounters:encounter_detail", encounter_id=services.note_encounter_id(note_id))
    if request.htmx:
        return render(request, "encounters/_note_status.html", {"note": note})
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
    return redirect("home")


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


@login_required
@require_http_methods(["GET", "POST"])
def problems(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
    )
    form = forms.ProblemForm(request.POST or None)
    if request.method == "POST":
        if not patient.access.can_document:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.problem_add(
                    actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data
                )
                messages.success(request, "Problem added.")
                return redirect("encounters:problems", patient_id=patient.pk)
            except ValidationError as exc:
                form.add_error("code", exc.messages)
    return render(
        request,
        "encounters/problems.html",
        {"patient": patient, "form": form, "rows": selectors.problems_all(patient=patient)},
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
        {"patient": patient, "form": form, "rows": selectors.allergies_all(patient=patient)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def medications(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.MEDICATIONS,
        request=request,
    )
    form = forms.MedicationForm(request.POST or None)
    if request.method == "POST":
        if not patient.access.can_document:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.medication_record(
                    actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data
                )
                messages.success(request, "Medication added.")
                return redirect("encounters:medications", patient_id=patient.pk)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
    return render(
        request,
        "encounters/medications.html",
        {"patient": patient, "form": form, "rows": selectors.medications_all(patient=patient)},
    )
