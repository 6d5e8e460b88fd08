from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit import categories
from audit.services import access_record_denied
from core.redirects import local_path

from . import chart, coverage, selectors, services
from .forms import BreakGlassForm, CareTeamAddForm, DuplicateReasonForm, MergeForm, PatientForm

PAGE = 20
MAX_PAGE = 50  # 1,000 results: past that, a more specific query is the way (and OFFSET stays cheap)


def _page_number(value: str | None) -> int:
    """The requested page, clamped to 1..MAX_PAGE (a huge or malformed number is not a 500)."""
    try:
        return min(max(1, int(value or "1")), MAX_PAGE)
    except (ValueError, OverflowError):
        return 1


def _require_perm(request: HttpRequest, perm: str, *, category: str = categories.DEMOGRAPHICS) -> None:
    """403 for a user without the global permission; the refusal is recorded like a patient 404."""
    if not request.user.has_perm(perm):
        access_record_denied(actor=request.user, category=category, request=request, detail={"needed": perm})
        raise PermissionDenied


@login_required
@require_GET
def patient_search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    page = _page_number(request.GET.get("page"))
    rows, more = (
        selectors.patient_search(
            actor=request.user, q=q, request=request, limit=PAGE, offset=(page - 1) * PAGE
        )
        if q
        else ([], False)
    )
    ctx = {
        "q": q,
        "rows": rows,
        "page": page,
        "more": more and page < MAX_PAGE,
        "can_register": request.user.has_perm("patients.register_patient"),
        "can_break_glass": roles.VIEW_CLINICAL
        in roles.patient_permissions_for_roles(roles.user_roles(request.user)),
    }
    # htmx asks for the results only (the page's search box and the top bar's both select #search-results).
    partial = request.htmx and not request.htmx.history_restore_request  # a history restore needs the page
    template = "patients/_search_results.html" if partial else "patients/patient_search.html"
    return render(request, template, ctx)


@login_required
@require_http_methods(["GET", "POST"])
def patient_register(request: HttpRequest) -> HttpResponse:
    _require_perm(request, "patients.register_patient")
    form = PatientForm(request.POST or None)
    reason_form = DuplicateReasonForm(request.POST or None) if "duplicate_reason" in request.POST else None
    candidates = []
    if request.method == "POST" and form.is_valid():
        reason = ""
        if reason_form is not None and reason_form.is_valid():
            reason = reason_form.cleaned_data["duplicate_reason"]
        try:
            patient = services.patient_register(
                actor=request.user, data=form.to_data(), duplicate_reason=reason, request=request
            )
        except services.DuplicatesFound as exc:
            candidates = exc.candidates
            reason_form = reason_form or DuplicateReasonForm()
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            back = local_path(request.GET.get("next"), request=request)
            if back:  # registered on the way to something (a slot picked on the calendar): on with it
                messages.success(request, f"Registered {patient.display_name}, MRN {patient.mrn}.")
                return redirect(f"{back}{'&' if '?' in back else '?'}patient={patient.pk}")
            messages.success(
                request,
                f"Registered {patient.display_name}, MRN {patient.mrn}. Add their insurance now, or open the chart.",
            )
            return redirect("patients:insurance", patient_id=patient.pk)
    return render(
        request,
        "patients/patient_register.html",
        {"form": form, "candidates": candidates, "reason_form": reason_form},
    )


@login_required
@require_GET
def patient_detail(request: HttpRequest, patient_id) -> HttpResponse:
    # The door first, on every view: permission checked, access recorded. Only then the page, from the cache when
    # nothing it shows has changed since (patients/chart.py).
    patient = selectors.patient_get(actor=request.user, patient_id=patient_id, request=request, category=None)
    can_merge = roles.role_grants(request.user, "patients.merge_patient")

    def draw(csrf_token: str) -> str:
        care_team = selectors.care_team_list(actor=request.user, patient=patient)
        candidates = selectors.care_team_candidates(actor=request.user, patient=patient, members=care_team)
        return render_to_string(
            "patients/patient_detail.html",
            {
                "patient": patient,
                "care_team": care_team,
                "coverages": coverage.coverages_active(patient=patient),
                "sections": chart.sections(actor=request.user, patient=patient, request=request),
                "care_team_form": CareTeamAddForm(candidates=candidates) if candidates else None,
                "can_merge": can_merge,
                "csrf_token": csrf_token,
            },
            request=request,
        )

    return HttpResponse(
        chart.page(actor=request.user, patient=patient, request=request, draw=draw, variant=(can_merge,))
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, patient_id) -> HttpResponse:
    patient = selectors.patient_get(
        actor=request.user, patient_id=patient_id, perm=roles.CHANGE_DEMOGRAPHICS, request=request
    )
    form = PatientForm(request.POST or None, initial=PatientForm.initial_from(patient), patient=patient)
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(
                actor=request.user, patient_id=patient.pk, data=form.to_data(), request=request
            )
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.success(request, "Demographics saved.")
            return redirect(patient)
    return render(request, "patients/patient_edit.html", {"form": form, "patient": patient})


@login_required
@require_POST
def care_team_add(request: HttpRequest, patient_id) -> HttpResponse:
    # Access first: an outsider gets 404 whatever the form says.
    patient = selectors.patient_get_for_care_team(
        actor=request.user, patient_id=patient_id, request=request, record=False
    )
    form = CareTeamAddForm(request.POST)
    member = None
    if form.is_valid():
        kind, pk = form.member_ref()
        member = selectors.care_team_member_get(kind=kind, pk=pk)
    if member is None:
        messages.error(request, "Choose an active staff member or team, and their role on the care team.")
    else:
        kind = form.member_ref()[0]
        try:
            services.care_team_add(
                actor=request.user,
                patient_id=patient.pk,
                care_role=form.cleaned_data["care_role"],
                request=request,
                **{kind: member},
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            name = member.get_full_name() or member.username if kind == "user" else member.name
            messages.success(request, f"{name} joined the care team.")
    return redirect(patient)


@login_required
@require_POST
def care_team_remove(request: HttpRequest, patient_id, member_id: int) -> HttpResponse:
    try:
        services.care_team_remove(
            actor=request.user, patient_id=patient_id, member_id=member_id, request=request
        )
        messages.success(request, "Removed from the care team; their access to this patient ended.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("patients:detail", patient_id=patient_id)


@login_required
@require_http_methods(["GET", "POST"])
def break_glass(request: HttpRequest) -> HttpResponse:
    services.break_glass_check_role(actor=request.user, request=request)
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            grant = services.break_glass_request(
                actor=request.user,
                mrn=form.cleaned_data["mrn"],
                birth_date=form.cleaned_data["birth_date"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except services.BreakGlassRefused as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.warning(
                request,
                f"Emergency access granted until {grant.expires_at:%H:%M}. "
                "Privacy officers have been notified.",
            )
            return redirect("patients:detail", patient_id=grant.patient_id)
    return render(request, "patients/break_glass.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def patient_merge(request: HttpRequest, patient_id) -> HttpResponse:
    _require_perm(request, "patients.merge_patient")
    survivor = selectors.patient_get(
        actor=request.user, patient_id=patient_id, perm=roles.CHANGE_DEMOGRAPHICS, request=request
    )
    form = MergeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dup = selectors.patient_find_by_mrn(
            actor=request.user, mrn=form.cleaned_data["duplicate_mrn"], perm=roles.CHANGE_DEMOGRAPHICS
        )
        if dup is None:
            form.add_error("duplicate_mrn", "No patient you can see has that MRN.")
        else:
            try:
                services.patient_merge(
                    actor=request.user,
                    survivor_id=survivor.pk,
                    duplicate_id=dup.pk,
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                messages.success(
                    request, f"Merged MRN {dup.mrn} into this record. It can be undone from here."
                )
                return redirect(survivor)
    return render(request, "patients/patient_merge.html", {"form": form, "patient": survivor})


@login_required
@require_POST
def patient_unmerge(request: HttpRequest, patient_id, merge_id) -> HttpResponse:
    _require_perm(request, "patients.merge_patient")
    # The record in the URL must be one the user may change (outsiders: 404, like every patient URL).
    selectors.patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        request=request,
        record=False,
    )
    try:
        services.patient_unmerge(actor=request.user, merge_id=merge_id, request=request)
        messages.success(request, "The merge was undone; both records stand on their own again.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("patients:detail", patient_id=patient_id)
