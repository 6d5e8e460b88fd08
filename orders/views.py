"""Orders and results pages: parse, call a selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.selectors import patient_get

from . import inbound, printing, selectors, services
from .models import Priority, TestKind


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


# ------------------------------------------------------------------ a patient's orders
@login_required
@require_GET
def patient_orders(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.LAB_ORDER,
        request=request,
    )
    return render(
        request,
        "orders/patient_orders.html",
        {"patient": patient, "orders": selectors.orders_for_patient(patient=patient)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def order_new(request: HttpRequest, patient_id) -> HttpResponse:
    """Choose a test (search), then answer its questions, pick diagnoses, priority and lab, and sign."""
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.PRESCRIBE,
        category=categories.LAB_ORDER,
        request=request,
    )
    source = request.POST if request.method == "POST" else request.GET
    test = selectors.test_get(source.get("test"))
    errors: list[str] = []
    if request.method == "POST":
        try:
            order = services.order_sign(
                actor=request.user,
                patient_id=patient.pk,
                test_id=test.pk if test else None,
                lab_id=request.POST.get("lab"),
                diagnoses=request.POST.getlist("diagnoses") + request.POST.get("diagnosis_other", "").split(),
                priority=request.POST.get("priority", ""),
                answers={k[2:]: v for k, v in request.POST.items() if k.startswith("q_")},
                password=request.POST.get("password", ""),
                request=request,
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(request, f"Order {order.placer_number} signed.")
            return redirect("orders:order", order_id=order.pk)
    problems = selectors.problems_for_order(patient=patient)
    return render(
        request,
        "orders/order_new.html",
        {
            "patient": patient,
            "q": source.get("q", ""),
            "tests": selectors.tests_search(q=source.get("q", "")) if test is None else [],
            "test": test,
            "labs": selectors.labs_active(),
            "problems": problems,
            "priorities": Priority.choices,
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
            "chosen_dx": request.POST.getlist("diagnoses") if request.method == "POST" else [],
        },
        status=400 if errors else 200,
    )


@login_required
@require_GET
def order_detail(request: HttpRequest, order_id) -> HttpResponse:
    order = selectors.order_get(actor=request.user, order_id=order_id, request=request)
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "patient": order.patient,
            "reports": selectors.order_reports(order),
            "messages_out": selectors.order_messages(order),
            "cancellable": order.status in services.CANCELLABLE and order.patient.access.can_prescribe,
        },
    )


@login_required
@require_POST
def order_cancel(request: HttpRequest, order_id) -> HttpResponse:
    try:
        services.order_cancel(
            actor=request.user, order_id=order_id, reason=request.POST.get("reason", ""), request=request
        )
    except ValidationError as exc:
        for m in _errors(exc):
            messages.error(request, m)
        return redirect("orders:order", order_id=order_id)
    messages.success(request, "Order cancelled.")
    return redirect("orders:order", order_id=order_id)


@login_required
@require_GET
def requisition(request: HttpRequest, order_id) -> HttpResponse:
    order = selectors.order_get(actor=request.user, order_id=order_id, request=request, action=Action.PRINT)
    resp = HttpResponse(printing.requisition_pdf(order), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="requisition-{order.placer_number}.pdf"'
    return resp


# ------------------------------------------------------------------ in-office tests
@login_required
@require_http_methods(["GET", "POST"])
def in_office(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.RESULTS,
        request=request,
    )
    source = request.POST if request.method == "POST" else request.GET
    test = selectors.test_get(source.get("test"), kinds=(TestKind.POC,))
    errors: list[str] = []
    if request.method == "POST" and test is not None:
        try:
            report = services.manual_result_record(
                actor=request.user,
                patient_id=patient.pk,
                test_id=test.pk,
                values={k[2:]: v for k, v in request.POST.items() if k.startswith("c_")},
                request=request,
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(request, f"{report.test_name} recorded.")
            return redirect("orders:report", report_id=report.pk)
    return render(
        request,
        "orders/in_office.html",
        {
            "patient": patient,
            "test": test,
            "tests": selectors.tests_search(kinds=(TestKind.POC,)),
            "errors": errors,
            "posted": request.POST if request.method == "POST" else {},
        },
        status=400 if errors else 200,
    )


# ------------------------------------------------------------------ review
@login_required
@require_GET
def review(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "orders/review.html",
        {
            "reports": selectors.results_to_review(actor=request.user, request=request),
            "can_resolve": request.user.has_perm("orders.resolve_unmatched"),
        },
    )


@login_required
@require_GET
def report_detail(request: HttpRequest, report_id) -> HttpResponse:
    view = selectors.report_get(actor=request.user, report_id=report_id, request=request)
    return render(
        request,
        "orders/report_detail.html",
        {"r": view.report, "values": view.values, "patient": view.report.patient},
    )


@login_required
@require_POST
def report_sign_off(request: HttpRequest, report_id) -> HttpResponse:
    try:
        services.result_sign_off(
            actor=request.user, report_id=report_id, comment=request.POST.get("comment", ""), request=request
        )
    except ValidationError as exc:
        for m in _errors(exc):
            messages.error(request, m)
        return redirect("orders:report", report_id=report_id)
    messages.success(request, "Result signed off.")
    return redirect("orders:review")


# ------------------------------------------------------------------ the unmatched queue
def _resolver(request) -> None:
    if not request.user.has_perm("orders.resolve_unmatched"):
        access_record(
            actor=request.user,
            action=Action.VIEW,
            category=categories.RESULTS_INBOUND,
            outcome="denied",
            request=request,
            detail={"needed": "orders.resolve_unmatched"},
        )
        raise PermissionDenied("Matching results to patients is for clinical staff.")


@login_required
@require_GET
def unmatched(request: HttpRequest) -> HttpResponse:
    _resolver(request)
    rows = list(selectors.unmatched_queue())
    access_record(
        actor=request.user,
        action=Action.LIST,
        category=categories.RESULTS_INBOUND,
        request=request,
        detail={"list": "unmatched results", "count": len(rows)},
    )
    return render(request, "orders/unmatched.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def unmatched_detail(request: HttpRequest, message_id) -> HttpResponse:
    _resolver(request)
    msg = selectors.unmatched_get(message_id=message_id)
    errors: list[str] = []
    if request.method == "POST":
        mrn = request.POST.get("mrn", "").strip().upper()[:12]
        target = selectors.patient_id_by_mrn(mrn)
        if target is None:
            errors = [f"No patient with MRN {mrn or '(empty)'}."]
        else:
            try:
                inbound.unmatched_attach(
                    actor=request.user, message_id=msg.pk, patient_id=target, request=request
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, f"Attached to MRN {mrn}; the results are in the chart.")
                return redirect("orders:unmatched")
    access_record(
        actor=request.user,
        action=Action.VIEW,
        category=categories.RESULTS_INBOUND,
        request=request,
        detail={"message": str(msg.pk)},
    )
    return render(
        request,
        "orders/unmatched_detail.html",
        {
            "m": msg,
            "raw": bytes(msg.raw)[:20000].decode("utf-8", "replace").replace("\r", "\n"),
            "candidates": selectors.candidates_shown(actor=request.user, msg=msg),
            "errors": errors,
        },
        status=400 if errors else 200,
    )
