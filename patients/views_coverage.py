"""Insurance pages: the patient's coverages (add, end) and the card photos, all through the door
(patients/coverage.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit import categories
from audit.services import access_record_denied

from . import coverage
from .forms_coverage import CoverageForm


@login_required
@require_http_methods(["GET", "POST"])
def coverage_page(request: HttpRequest, patient_id) -> HttpResponse:
    patient, active, ended = coverage.coverage_list(
        actor=request.user, patient_id=patient_id, request=request
    )
    form = None
    if patient.access.can_edit_demographics:
        taken = {c.order for c in active}
        initial = {"order": next((o for o in (1, 2, 3) if o not in taken), 1)}
        form = CoverageForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            cov = coverage.coverage_add(
                actor=request.user,
                patient_id=patient.pk,
                data=form.to_data(),
                front=form.images.get("front"),
                back=form.images.get("back"),
                request=request,
            )
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.success(request, f"{cov.get_order_display()} coverage with {cov.payer.name} saved.")
            return redirect("patients:insurance", patient_id=patient.pk)
    elif request.method == "POST" and form is None:  # may see the coverages, may not change them
        access_record_denied(
            actor=request.user,
            category=categories.INSURANCE,
            patient_id=patient.pk,
            request=request,
            detail={"needed": roles.CHANGE_DEMOGRAPHICS},
        )
        raise PermissionDenied
    return render(
        request,
        "patients/coverage.html",
        {
            "patient": patient,
            "active": active,
            "ended": ended,
            "form": form,
            "next_url": request.GET.get("next", "") if request.GET.get("next", "").startswith("/") else "",
        },
    )


@login_required
@require_POST
def coverage_end(request: HttpRequest, patient_id, coverage_id) -> HttpResponse:
    try:
        cov = coverage.coverage_end(
            actor=request.user, patient_id=patient_id, coverage_id=coverage_id, request=request
        )
        messages.success(
            request, f"The {cov.get_order_display().lower()} coverage with {cov.payer.name} ended."
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("patients:insurance", patient_id=patient_id)


@login_required
@require_GET
def coverage_card(request: HttpRequest, patient_id, coverage_id, side: str) -> HttpResponse:
    data, content_type = coverage.coverage_card(
        actor=request.user, patient_id=patient_id, coverage_id=coverage_id, side=side, request=request
    )
    resp = HttpResponse(data, content_type=content_type)
    resp["Cache-Control"] = "private, no-store"
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Content-Disposition"] = f'inline; filename="card-{side}"'
    return resp
