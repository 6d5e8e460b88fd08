"""Parse the request, call a selector or service, render. No ORM calls here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.selectors import patient_get

from . import printing, selectors, services
from .forms import DenyForm, PrescriptionForm, SignForm


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errs in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_GET
def medication_search(request: HttpRequest) -> HttpResponse:
    """htmx: catalog matches for the prescribe form (not patient data)."""
    rows = selectors.medication_search(q=request.GET.get("q", "")[:100])
    return render(request, "prescriptions/_medication_results.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def prescription_new(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.PRESCRIBE,
        category=categories.PRESCRIPTION,
        request=request,
    )
    form = PrescriptionForm(
        request.POST or None, initial={"pharmacy": selectors.pharmacy_preferred(patient=patient)}
    )
    medication = None
    if request.method == "POST":
        if form.is_valid():
            try:
                rx = services.prescription_create(
                    actor=request.user, patient_id=patient.pk, data=form.cleaned_data, request=request
                )
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                return redirect("prescriptions:sign", rx.pk)
        try:
            medication = selectors.medication_get(medication_id=request.POST.get("medication_id"))
        except Exception:  # noqa: BLE001 - an unknown id just shows no selection
            medication = None
    return render(
        request,
        "prescriptions/prescription_new.html",
        {"patient": patient, "form": form, "medication": medication},
    )


@login_required
@require_http_methods(["GET", "POST"])
def prescription_sign(request: HttpRequest, prescription_id) -> HttpResponse:
    rx = selectors.prescription_get(
        actor=request.user, prescription_id=prescription_id, perm=roles.PRESCRIBE, request=request
    )
    if rx.status != "draft":
        return redirect(rx)
    alerts = selectors.prescription_check(patient=rx.patient, medication=rx.medication)
    form = SignForm(request.POST or None)
    reasons = (
        {a.key: request.POST.get(f"override_{i}", "") for i, a in enumerate(alerts)} if request.POST else {}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.prescription_sign(
                actor=request.user,
                prescription_id=rx.pk,
                password=form.cleaned_data["password"],
                totp_code=form.cleaned_data["totp_code"],
                override_reasons=reasons,
                request=request,
            )
        except services.AlertsNeedOverride:
            form.add_error(None, "Give a reason for each high-severity alert, or change the prescription.")
        except ValidationError as exc:
            _errors_to_form(form, exc)
        except PermissionDenied:
            raise
        else:
            messages.success(request, "Prescription signed.")
            return redirect(rx)
    indexed = [(i, a, reasons.get(a.key, "")) for i, a in enumerate(alerts)]
    return render(
        request,
        "prescriptions/prescription_sign.html",
        {"rx": rx, "patient": rx.patient, "alerts": indexed, "form": form},
    )


@login_required
@require_GET
def prescription_detail(request: HttpRequest, prescription_id) -> HttpResponse:
    rx = selectors.prescription_get(actor=request.user, prescription_id=prescription_id, request=request)
    return render(
        request,
        "prescriptions/prescription_detail.html",
        {"rx": rx, "patient": rx.patient, "events": selectors.prescription_events(prescription=rx)},
    )


@login_required
@require_GET
def prescription_status(request: HttpRequest, prescription_id) -> HttpResponse:
    """htmx polling fragment (sent with X-Background-Poll so it does not count as user activity)."""
    rx = selectors.prescription_get(
        actor=request.user, prescription_id=prescription_id, request=request, record=False
    )
    return render(
        request,
        "prescriptions/_status.html",
        {"rx": rx, "events": selectors.prescription_events(prescription=rx)},
    )


@login_required
@require_POST
def prescription_cancel(request: HttpRequest, prescription_id) -> HttpResponse:
    try:
        rx = services.prescription_cancel(
            actor=request.user, prescription_id=prescription_id, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("prescriptions:detail", prescription_id)
    messages.success(request, "Cancel requested.")
    return redirect(rx)


@login_required
@require_GET
def prescription_print(request: HttpRequest, prescription_id) -> HttpResponse:
    rx = selectors.prescription_get(actor=request.user, prescription_id=prescription_id, request=request)
    return render(request, "prescriptions/prescription_print.html", {"rx": rx, "patient": rx.patient})


@login_required
@require_GET
def prescription_pdf(request: HttpRequest, prescription_id) -> HttpResponse:
    rx = selectors.prescription_get(actor=request.user, prescription_id=prescription_id, request=request)
    if rx.status == "draft":
        raise PermissionDenied("An unsigned prescription cannot be printed.")
    access_record(
        actor=request.user,
        action=Action.PRINT,
        category=categories.PRESCRIPTION,
        patient_id=rx.patient_id,
        request=request,
        detail={"prescription": str(rx.pk)},
    )
    response = HttpResponse(printing.prescription_pdf(rx), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="rx-{rx.prescriber_order_number}.pdf"'
    return response


# ------------------------------------------------------------------ inbox and attention queue
@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    items = selectors.inbox_list(actor=request.user)
    if items:
        access_record(
            actor=request.user,
            action=Action.LIST,
            category=categories.PRESCRIPTION,
            patient_ids=[i.patient_id for i in items if i.patient_id],
            request=request,
        )
    return render(request, "prescriptions/inbox.html", {"items": items, "deny_form": DenyForm()})


@login_required
@require_POST
def inbox_respond(request: HttpRequest, item_id) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    form = DenyForm(request.POST)
    reason = form.data.get("reason_code", "")
    try:
        services.inbox_respond(
            actor=request.user,
            item_id=item_id,
            approve=approve,
            reason_code=reason,
            note=request.POST.get("note", "")[:200],
            request=request,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Response sent." if approve else "Denial sent.")
    return redirect("prescriptions:inbox")


def _staff(request):
    if not request.user.is_staff:
        raise PermissionDenied


@login_required
@require_GET
def attention(request: HttpRequest) -> HttpResponse:
    _staff(request)
    rows = selectors.attention_list()
    access_record(
        actor=request.user,
        action=Action.LIST,
        category=categories.PRESCRIPTION,
        patient_ids=[m.prescription.patient_id for m in rows if m.prescription],
        request=request,
    )
    return render(request, "prescriptions/attention.html", {"rows": rows})


@login_required
@require_POST
def attention_retry(request: HttpRequest, message_id) -> HttpResponse:
    _staff(request)
    try:
        services.outbound_retry(actor=request.user, message_id=message_id, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("prescriptions:attention")


@login_required
@require_POST
def attention_resolve(request: HttpRequest, message_id) -> HttpResponse:
    _staff(request)
    try:
        services.outbound_resolve(
            actor=request.user,
            message_id=message_id,
            note=request.POST.get("note", "")[:200],
            request=request,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("prescriptions:attention")


# ------------------------------------------------------------------ inbound (pharmacy -> EHR)
@csrf_exempt  # no cookies or sessions here: every request is authenticated by its HMAC signature instead
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    try:
        answer = services.inbound_receive(headers=request.headers, body=request.body)
    except services.InboundRejected as exc:
        if exc.body:
            return HttpResponse(exc.body, status=exc.http_status, content_type="application/xml")
        return HttpResponse(exc.reason + "\n", status=exc.http_status, content_type="text/plain")
    return HttpResponse(answer, content_type="application/xml")
