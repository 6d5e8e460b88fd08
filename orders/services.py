"""Writing orders: create and sign (which queues the ORM^O01), in-office results entered by hand, signing off a
result. Inbound results are filed by ``orders.inbound``; the outbox lives in ``orders.outbox``.

Services check access through patient_get with the write permission before their transaction, validate, write
atomically, record the audit event and queue Celery work on commit.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from encounters.models import Icd10Code
from encounters.results import ResultValue, results_file
from patients.selectors import patient_get

from . import filing, hl7wire, outbox, signals
from .models import LabTest, Order, OrderStatus, PerformingLab, Priority, ReportStatus, ResultReport, TestKind

PLACER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from a label


def placer_number_new() -> str:
    """12 characters ("OE" + 10): short enough that no lab truncates it, unique by constraint."""
    return "OE" + "".join(secrets.choice(PLACER_ALPHABET) for _ in range(10))


# ------------------------------------------------------------------ answers and diagnoses
def _answer_check(q: dict, raw) -> str:
    value = str(raw or "").strip()
    if not value:
        if q.get("required"):
            raise ValidationError({f"q_{q['code']}": f"Answer: {q['text']}"})
        return ""
    kind = q.get("kind", "text")
    if kind == "yesno" and value not in ("Yes", "No"):
        raise ValidationError({f"q_{q['code']}": f"Answer Yes or No: {q['text']}"})
    if kind == "choice" and value not in q.get("choices", []):
        raise ValidationError({f"q_{q['code']}": f"Choose one of the listed answers: {q['text']}"})
    if kind == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValidationError({f"q_{q['code']}": f"Enter a number: {q['text']}"}) from None
        if not number.is_finite() or not 0 <= number <= 10000:
            raise ValidationError({f"q_{q['code']}": f"Enter a number from 0 to 10000: {q['text']}"})
    if len(value) > 200:
        raise ValidationError({f"q_{q['code']}": "Keep answers under 200 characters."})
    return value


def answers_check(test: LabTest, answers: dict) -> list[dict]:
    """Every ask-at-order-entry question answered as its kind requires (required ones must be)."""
    out, errors = [], {}
    for q in test.questions:
        try:
            value = _answer_check(q, (answers or {}).get(q["code"]))
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if value:
            out.append({"code": q["code"], "text": q["text"], "answer": value})
    if errors:
        raise ValidationError(errors)
    return out


def diagnoses_check(codes) -> list[dict]:
    codes = [str(c).strip().upper() for c in (codes or []) if str(c).strip()]
    if not codes:
        raise ValidationError({"diagnoses": "Choose at least one diagnosis that justifies the order."})
    found = {c.code: c for c in Icd10Code.objects.filter(code__in=codes[:12])}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise ValidationError({"diagnoses": f"Not an ICD-10-CM code: {', '.join(unknown[:3])}."})
    return [{"code": c, "description": found[c].description} for c in dict.fromkeys(codes)]


def _int(value) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


def _signer_check(actor, password: str, request) -> None:
    if getattr(getattr(actor, "practitioner", None), "npi", "") == "":
        raise ValidationError("Only a practitioner with an NPI can sign orders.")
    if authenticate(request or HttpRequest(), username=actor.get_username(), password=password or "") is None:
        raise ValidationError({"password": "Password incorrect: signing needs your password again."})


# ------------------------------------------------------------------ orders
def order_sign(
    *,
    actor,
    patient_id,
    test_id,
    lab_id,
    diagnoses,
    priority: str,
    answers: dict,
    password: str,
    encounter_id=None,
    request=None,
) -> Order:
    """Create and sign an order; an electronic lab gets its ORM^O01 through the outbox (exactly once)."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.PRESCRIBE,
        category=categories.LAB_ORDER,
        request=request,
        record=False,
    )
    if patient.merged_into_id:
        raise ValidationError(
            "This record was merged into another one: order on the surviving record, not on this one."
        )
    test_pk, lab_pk = _int(test_id), _int(lab_id)
    test = (
        LabTest.objects.filter(pk=test_pk, active=True).exclude(kind=TestKind.POC).first()
        if test_pk is not None
        else None
    )
    if test is None:
        raise ValidationError({"test": "Choose a test from the catalogue."})
    lab = PerformingLab.objects.filter(pk=lab_pk, active=True).first() if lab_pk is not None else None
    if lab is None:
        raise ValidationError({"lab": "Choose the lab or imaging site that performs the test."})
    if priority not in Priority.values:
        raise ValidationError({"priority": "Choose routine, urgent or STAT."})
    dx = diagnoses_check(diagnoses)
    checked = answers_check(test, answers)
    _signer_check(actor, password, request)
    with transaction.atomic():
        order = Order.objects.create(
            patient=patient,
            encounter_id=encounter_id or None,
            test=test,
            ordering_clinician=actor,
            lab=lab,
            diagnoses=dx,
            priority=priority,
            answers=checked,
            placer_number=placer_number_new(),
            status=OrderStatus.QUEUED if lab.electronic else OrderStatus.SIGNED,
            status_reason=""
            if lab.electronic
            else "print the requisition: this site takes no electronic orders",
            signed_at=timezone.now(),
        )
        if lab.electronic:
            outbox.outbox_add(order=order, payload_for=_orm_payload)
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.LAB_ORDER,
            patient_id=patient.pk,
            request=request,
            detail={"order": str(order.pk), "test": test.loinc, "priority": priority},
        )
    return order


def _hl7_sex(value: str) -> str:
    return value if value in ("F", "M") else "U"


def _orm_payload(order: Order, control_id: str, order_control: str = "NW") -> bytes:
    from django.conf import settings

    p = order.patient
    clinician = order.ordering_clinician
    lab = order.lab
    if lab is None:
        raise ValueError("an order without a lab has no HL7 message")
    return hl7wire.build_orm(
        hl7wire.OrderData(
            control_id=control_id,
            placer_number=order.placer_number,
            patient=hl7wire.PatientIdent(
                mrn=p.mrn,
                family=p.family_name,
                given=p.given_name,
                birth_date=p.birth_date.strftime("%Y%m%d"),
                sex=_hl7_sex(p.sex_at_birth),
                assigning_authority=settings.HL7_FACILITY,
            ),
            loinc=order.test.loinc,
            test_name=order.test.name,
            priority=order.priority,
            ordered_at=order.signed_at or order.created_at,
            provider_npi=clinician.practitioner.npi,
            provider_family=clinician.last_name,
            provider_given=clinician.first_name,
            diagnoses=[(d["code"], d["description"]) for d in order.diagnoses],
            answers=[(a["code"], a["text"], a["answer"]) for a in order.answers],
            specimen=order.test.specimen,
            sending_app=settings.HL7_APPLICATION,
            sending_facility=settings.HL7_FACILITY,
            receiving_app=lab.application,
            receiving_facility=lab.facility,
            order_control=order_control,
        )
    )


# ------------------------------------------------------------------ in-office tests
def _manual_value(c: dict, raw) -> ResultValue | None:
    value = str(raw or "").strip()
    if not value:
        return None
    name = c["name"]
    if c.get("kind") == "choice":
        if value not in c["choices"]:
            raise ValidationError({f"c_{c['loinc']}": f"{name}: choose one of {', '.join(c['choices'])}."})
        abnormal = value != c.get("normal", value)
        return ResultValue(c["loinc"], name, None, value, "", None, None, "A" if abnormal else "N", "final")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError({f"c_{c['loinc']}": f"{name}: enter a number in {c['unit']}."}) from None
    if not number.is_finite() or number < 0 or number > 100000:
        raise ValidationError({f"c_{c['loinc']}": f"{name}: {value} {c['unit']} is not a possible value."})
    low, high = c.get("low"), c.get("high")
    flag = filing.range_flag(number, low, high, c.get("critical_low"), c.get("critical_high"))
    return ResultValue(
        c["loinc"],
        name,
        number,
        "",
        c.get("unit", ""),
        Decimal(str(low)) if low is not None else None,
        Decimal(str(high)) if high is not None else None,
        flag,
        "final",
    )


def manual_result_record(
    *, actor, patient_id, test_id, values: dict, observed_at: datetime | None = None, request=None
) -> ResultReport:
    """An in-office test (point-of-care glucose, INR, urine dipstick, rapid strep, pregnancy) entered by hand:
    filed like a lab result, for the clinician who entered it to sign off."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.RESULTS,
        request=request,
        record=False,
    )
    poc_pk = _int(test_id)
    test = (
        LabTest.objects.filter(pk=poc_pk, kind=TestKind.POC, active=True).first()
        if poc_pk is not None
        else None
    )
    if test is None:
        raise ValidationError({"test": "Choose an in-office test."})
    rows, errors = [], {}
    for c in test.components:
        try:
            v = _manual_value(c, (values or {}).get(c["loinc"]))
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if v is not None:
            rows.append(v)
    if errors:
        raise ValidationError(errors)
    if not rows:
        raise ValidationError("Enter at least one value.")
    when = observed_at or timezone.now()
    if when > timezone.now():
        raise ValidationError({"observed_at": "The test cannot have been done in the future."})
    with transaction.atomic():
        report = ResultReport.objects.create(
            patient=patient,
            ordering_clinician=actor if patient.access.can_prescribe else None,
            loinc=test.loinc,
            test_name=test.name,
            status=ReportStatus.FINAL,
            is_critical=any(r.interpretation in ("HH", "LL") for r in rows),
            is_abnormal=any(r.interpretation not in ("", "N") for r in rows),
            observed_at=when,
        )
        results_file(patient=patient, report_id=report.pk, effective=when, values=rows)
        access_record(
            actor=actor,
            action=Action.CREATE,
            category=categories.RESULTS,
            patient_id=patient.pk,
            request=request,
            detail={"report": str(report.pk), "test": test.loinc, "in_office": True},
        )
        filing.announce(report)
    return report


# ------------------------------------------------------------------ review
def result_sign_off(*, actor, report_id, comment: str = "", request=None) -> ResultReport:
    """The ordering clinician (or a colleague with the prescribe permission on the patient) has seen the result."""
    report = ResultReport.objects.filter(pk=report_id).first()
    if report is None:
        from django.http import Http404

        raise Http404("No such result")
    patient_get(
        actor=actor,
        patient_id=report.patient_id,
        perm=roles.PRESCRIBE,
        category=categories.RESULTS,
        request=request,
        record=False,
    )
    comment = (comment or "").strip()
    if len(comment) > 1000:
        raise ValidationError({"comment": "Keep the comment under 1,000 characters."})
    with transaction.atomic():
        locked = ResultReport.objects.select_for_update().get(pk=report.pk)
        if locked.reviewed_at is not None:
            raise ValidationError("This result was already signed off.")
        locked.reviewed_by = actor
        locked.reviewed_at = timezone.now()
        locked.review_comment = comment
        locked.save(update_fields=["reviewed_by", "reviewed_at", "review_comment"])
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.RESULTS,
            patient_id=locked.patient_id,
            request=request,
            detail={"report": str(locked.pk), "sign_off": True},
        )
        transaction.on_commit(
            lambda: signals.result_reviewed.send(
                sender=ResultReport, report=locked, actor=actor, comment=comment
            )
        )
    return locked


def require_unmatched_permission(actor) -> None:
    if not actor.has_perm("orders.resolve_unmatched"):
        raise PermissionDenied("Matching results to patients is for clinical staff.")


# ------------------------------------------------------------------ cancelling
CANCELLABLE = (OrderStatus.SIGNED, OrderStatus.QUEUED, OrderStatus.SENT, OrderStatus.NEEDS_ATTENTION)


def order_cancel(*, actor, order_id, reason: str, request=None) -> Order:
    """Cancel an order that has no result yet: its status says so at once, and a lab that takes electronic orders
    gets an ORM^O01 with order control CA (ORC-1) through the same outbox (sent after the new order itself).
    Who: the prescribe permission on the patient, as for signing."""
    from core.guarded import patient_id_of

    patient_id = patient_id_of(Order, order_id, "order")
    patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.PRESCRIBE,
        category=categories.LAB_ORDER,
        request=request,
        record=False,
    )
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": "Say why the order is cancelled (the lab and the chart keep it)."})
    if len(reason) > 200:
        raise ValidationError({"reason": "Keep the reason under 200 characters."})
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("lab", "test").get(pk=order_id)
        if order.status == OrderStatus.CANCELLED:
            raise ValidationError("This order was already cancelled.")
        if order.status not in CANCELLABLE:
            raise ValidationError(
                f"This order already has a result ({order.get_status_display().lower()}): it can no longer be cancelled."
            )
        order.status = OrderStatus.CANCELLED
        order.status_reason = f"{reason} ({actor.get_full_name() or actor.get_username()})"[:500]
        order.save(update_fields=["status", "status_reason", "updated_at"])
        told_lab = order.lab is not None and order.lab.electronic and order.messages.exists()
        if told_lab:
            outbox.outbox_add(order=order, payload_for=_orm_cancel_payload, message_type=outbox.CANCEL_TYPE)
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.LAB_ORDER,
            patient_id=order.patient_id,
            request=request,
            detail={"order": str(order.pk), "cancelled": True, "lab_told": told_lab},
        )
    return order


def _orm_cancel_payload(order: Order, control_id: str) -> bytes:
    return _orm_payload(order, control_id, order_control="CA")
