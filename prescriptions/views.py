"""Parse the request, call a selector or service, render. No ORM calls here."""

import logging

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

from . import cancelling, checks, ncpdp, needs_attention, printing, renewals, selectors, services, signature
from . import inbound as inbound_messages
from .forms import DenyForm, InboxRespondForm, PrescriptionForm, SignForm

logger = logging.getLogger(__name__)
# Statuses the Cancel button is offered for (the service decides what cancelling means for each).
CANCELLABLE = ["draft", "signed", "printed", "queued", "sent", "delivered", "needs_attention"]


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
    alerts = checks.prescription_check(patient=rx.patient, medication=rx.medication)
    form = SignForm(request.POST or None)
    reasons = (
        {a.key: request.POST.get(f"override_{i}", "") for i, a in enumerate(alerts)} if request.POST else {}
    )
    if request.method == "POST" and form.is_valid():
        try:
            signature.prescription_sign(
                actor=request.user,
                prescription_id=rx.pk,
                password=form.cleaned_data["password"],
                totp_code=form.cleaned_data["totp_code"],
                override_reasons=reasons,
                request=request,
            )
        except signature.AlertsNeedOverride:
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
        {
            "rx": rx,
            "patient": rx.patient,
            "events": selectors.prescription_events(prescription=rx),
            "cancellable": CANCELLABLE,
        },
    )


@login_required
@require_GET
def prescription_status(request: HttpRequest, prescription_id) -> HttpResponse:
    """htmx polling fragment (sent with X-Background-Poll so it does not count as user activity). It shows patient
    data, so its read is recorded: a background poll once per session and patient per short window, a direct
    request every time."""
    poll = request.headers.get("HX-Request") == "true" and bool(request.headers.get("X-Background-Poll"))
    rx = selectors.prescription_status_get(
        actor=request.user,
        prescription_id=prescription_id,
        request=request,
        poll_session=(request.session.session_key or "") if poll else "",
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
        rx = cancelling.prescription_cancel(
            actor=request.user, prescription_id=prescription_id, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("prescriptions:detail", prescription_id)
    if rx.status == "cancelled":
        messages.success(request, "Prescription cancelled.")
    elif rx.status == "needs_attention":
        messages.warning(request, rx.status_reason)
    else:
        messages.success(request, "Cancel requested: waiting for the pharmacy's answer.")
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


# ------------------------------------------------------------------ pharmacy directory
@login_required
@require_GET
def pharmacy_directory(request: HttpRequest) -> HttpResponse:
    """The directory, searchable by name, city or NCPDP ID (not patient data). Admins edit it in the admin."""
    q = request.GET.get("q", "")[:100]
    return render(
        request,
        "prescriptions/pharmacy_directory.html",
        {
            "q": q,
            "rows": selectors.pharmacy_search(q=q),
            "can_edit": request.user.has_perm("prescriptions.change_pharmacy"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def pharmacy_choose(request: HttpRequest, patient_id) -> HttpResponse:
    """Set the patient's preferred pharmacy from the chart (search the directory, pick one)."""
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        category=categories.DEMOGRAPHICS,
        request=request,
    )
    if request.method == "POST":
        pharmacy = services.pharmacy_set_preferred(
            actor=request.user,
            patient_id=patient.pk,
            pharmacy_id=request.POST.get("pharmacy_id"),
            request=request,
        )
        messages.success(request, f"Preferred pharmacy: {pharmacy}.")
        return redirect("patients:detail", patient.pk)
    q = request.GET.get("q", "")[:100]
    return render(
        request,
        "prescriptions/pharmacy_choose.html",
        {
            "patient": patient,
            "q": q,
            "rows": selectors.pharmacy_search(q=q),
            "current": selectors.pharmacy_preferred(patient=patient),
        },
    )


# ------------------------------------------------------------------ inbox and attention queue
@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    items = selectors.inbox_list(actor=request.user, request=request)
    return render(request, "prescriptions/inbox.html", {"items": items})


def _overrides_from_post(request, alerts) -> dict[str, str]:
    return (
        {a.key: request.POST.get(f"override_{i}", "") for i, a in enumerate(alerts)} if request.POST else {}
    )


def _option_arg(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@require_GET
def inbox_item(request: HttpRequest, item_id) -> HttpResponse:
    """One renewal or change request: the drugs asked for, the safety alerts of the one picked, and the signing
    form (approving signs a new prescription) or a denial with a reason."""
    item = selectors.inbox_item_get(actor=request.user, item_id=item_id, request=request)
    return _inbox_item_page(
        request, item, form=InboxRespondForm(initial={"option": request.GET.get("option")})
    )


def _inbox_item_page(request, item, *, form, status: int = 200) -> HttpResponse:
    options = selectors.inbox_item_options(item=item)
    option = _option_arg(form.data.get("option") if form.is_bound else form.initial.get("option"))
    if option is None and len(options) == 1:
        option = 0
    medication, schedule = None, ""
    if item.kind == "change" and option is not None and 0 <= option < len(options):
        medication = options[option].medication
    elif item.kind == "renewal" and item.prescription:
        medication = item.prescription.medication
        schedule = item.prescription.dea_schedule
    if medication is not None:
        schedule = schedule or medication.dea_schedule
    alerts = (
        checks.prescription_check(patient=item.patient, medication=medication)
        if medication is not None and item.patient is not None
        else []
    )
    reasons = _overrides_from_post(request, alerts)
    return render(
        request,
        "prescriptions/inbox_item.html",
        {
            "item": item,
            "patient": item.patient,
            "options": options,
            "option": option,
            "medication": medication,
            "controlled": bool(schedule),
            "alerts": [(i, a, reasons.get(a.key, "")) for i, a in enumerate(alerts)],
            "form": form,
            "deny_form": DenyForm(request.POST or None, kind=item.kind),
        },
        status=status,
    )


@login_required
@require_POST
def inbox_respond(request: HttpRequest, item_id) -> HttpResponse:
    item = selectors.inbox_item_get(actor=request.user, item_id=item_id, request=request, record=False)
    form = InboxRespondForm(request.POST)
    approve = request.POST.get("decision") == "approve"
    if not form.is_valid():
        return _inbox_item_page(request, item, form=form, status=400)
    data = form.cleaned_data
    medication = None
    options = selectors.inbox_item_options(item=item)
    if item.kind == "change" and data["option"] is not None and 0 <= data["option"] < len(options):
        medication = options[data["option"]].medication
    elif item.prescription:
        medication = item.prescription.medication
    alerts = (
        checks.prescription_check(patient=item.patient, medication=medication)
        if approve and medication is not None and item.patient is not None
        else []
    )
    try:
        renewals.inbox_respond(
            actor=request.user,
            item_id=item.pk,
            approve=approve,
            reason_code=data["reason_code"],
            note=data["note"],
            option=data["option"],
            refills=data["refills"],
            password=data["password"],
            totp_code=data["totp_code"],
            override_reasons=_overrides_from_post(request, alerts),
            request=request,
        )
    except signature.AlertsNeedOverride:
        form.add_error(None, "Give a reason for each high-severity alert, or deny the request.")
        return _inbox_item_page(request, item, form=form, status=400)
    except ValidationError as exc:
        _errors_to_form(form, exc)
        return _inbox_item_page(request, item, form=form, status=400)
    messages.success(
        request, "Approved: new prescription signed and the answer sent." if approve else "Denial sent."
    )
    return redirect("prescriptions:inbox")


@login_required
@require_GET
def attention(request: HttpRequest) -> HttpResponse:
    """Messages that need a human, for the patients whose chart the user may open (the one door decides)."""
    rows = selectors.attention_list(actor=request.user, request=request)
    return render(request, "prescriptions/attention.html", {"rows": rows})


@login_required
@require_POST
def attention_retry(request: HttpRequest, message_id) -> HttpResponse:
    try:
        needs_attention.outbound_retry(actor=request.user, message_id=message_id, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Queued again.")
    return redirect("prescriptions:attention")


@login_required
@require_POST
def attention_resolve(request: HttpRequest, message_id) -> HttpResponse:
    try:
        needs_attention.outbound_resolve(
            actor=request.user,
            message_id=message_id,
            note=request.POST.get("note", "")[:200],
            request=request,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("prescriptions:attention")


# ------------------------------------------------------------------ inbound (pharmacy -> EHR)
RETRY_AFTER_SECONDS = 30


@csrf_exempt  # no cookies or sessions here: every request is authenticated by its HMAC signature instead
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    try:
        answer = inbound_messages.inbound_receive(headers=request.headers, body=request.body)
    except inbound_messages.InboundRejected as exc:
        if exc.body:
            return HttpResponse(exc.body, status=exc.http_status, content_type="application/xml")
        return HttpResponse(exc.reason + "\n", status=exc.http_status, content_type="text/plain")
    except Exception:  # noqa: BLE001 - fail closed: a pharmacy must get a retryable answer, never a 500 page
        logger.exception("inbound pharmacy message could not be processed")
        body = inbound_messages.error_reply(
            "temporarily unable to process the message; retry later",
            code=ncpdp.ERROR_RECEIVER_SYSTEM,
            desc=ncpdp.DESC_SYSTEM_ERROR,
        )
        response = HttpResponse(body, status=503, content_type="application/xml")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return HttpResponse(answer, content_type="application/xml")
