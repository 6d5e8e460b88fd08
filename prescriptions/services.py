"""Every write of e-prescribing: write, sign, cancel, transmit (the outbox), receive (the inbox), respond.

Services check access through patient_get with the write permission before their transaction, validate, write
atomically, record the audit event, and queue Celery work with transaction.on_commit.

Delivery guarantee (exactly-once effect at the pharmacy):
- a message's XML, with its MessageID, is built once and stored in the same transaction as the prescription's
  status change (transactional outbox); every retry re-sends those exact bytes;
- ``outbound_send`` holds a PostgreSQL session advisory lock on the message for the whole exchange, so two
  workers never send one message at the same time; before the HTTP request it commits ``status=sending`` and the
  attempt count, so everyone else knows the pharmacy may now hold these bytes (a NewRx that may have arrived is
  never withdrawn silently: it gets a CancelRx);
- a worker killed mid-send leaves the row "sending" and its lock dies with its connection; the task is
  redelivered (acks_late + reject_on_worker_lost) or re-queued by ``outbound_requeue_stuck`` and re-sends the SAME
  MessageID, which the pharmacy de-duplicates (reference §6). That re-delivery is the only kind of duplicate the
  pharmacy can see, and it never becomes a second prescription.
- per prescription, a CancelRx never overtakes its NewRx: it waits while the NewRx is pending or being sent.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404, HttpRequest
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action, Outcome
from audit.services import access_record
from patients.selectors import patient_get

from . import ncpdp, selectors, signing
from .models import (
    DEA_SCHEDULE_CODES,
    SCHEDULES_BY_CODE,
    DoseUnit,
    Frequency,
    InboundAnswer,
    InboundNonce,
    InboxItem,
    InboxKind,
    InboxStatus,
    Medication,
    OutboundMessage,
    OutboundStatus,
    PatientPharmacy,
    Pharmacy,
    Prescription,
    PrescriptionEvent,
    Route,
    RxStatus,
    refill_limit,
)

logger = logging.getLogger(__name__)

# One constant for the retry budget: the service gives up after MAX_ATTEMPTS sends and the Celery task
# (tasks.transmit_message) derives its max_retries from it, so both stop at the same attempt.
MAX_ATTEMPTS = getattr(settings, "RX_MAX_ATTEMPTS", 10)
SEND_TIMEOUT_SECONDS = getattr(settings, "RX_SEND_TIMEOUT_SECONDS", 5)
STUCK_AFTER_SECONDS = getattr(settings, "RX_STUCK_AFTER_SECONDS", 120)
# How long a message accepted by the network (Status 000) may wait for its final answer (Status 010, Verify or
# Error) before a human looks at it. Reference §3: [AID] uses 24 h for NewRx and 48 h for CancelRx.
ANSWER_DEADLINE_SECONDS: dict[str, int] = {
    ncpdp.NEW_RX: 24 * 3600,
    ncpdp.CANCEL_RX: 48 * 3600,
    **getattr(settings, "RX_ANSWER_DEADLINE_SECONDS", {}),
}
DEFAULT_ANSWER_DEADLINE_SECONDS = 24 * 3600
# A CancelRx waiting for its NewRx looks again this often (and as soon as the NewRx is answered).
CANCEL_WAIT_SECONDS = 5
# ICD-10-CM descriptions are cut to this length in the NewRx Diagnosis (the reference gives no limit; a short,
# conservative one keeps intermediaries from refusing the message).
DIAGNOSIS_DESCRIPTION_MAX = 100
SOFTWARE = ncpdp.SenderSoftware()
# Where the clinic is: the prescriber's practice address in a NewRx (§2 requires one).
CLINIC_ADDRESS = getattr(
    settings,
    "CLINIC_ADDRESS",
    {"line1": "100 Clinic Way", "city": "Springfield", "state": "IL", "postal_code": "62701"},
)
CLINIC_PHONE = getattr(settings, "CLINIC_PHONE", "2175550100")


class AlertsNeedOverride(ValidationError):
    def __init__(self, alerts):
        super().__init__("High-severity alerts need an override reason before signing.")
        self.alerts = alerts


# ------------------------------------------------------------------ sig
_VERBS = {
    Route.PO: "Take",
    Route.SL: "Dissolve",
    Route.TOP: "Apply",
    Route.INH: "Inhale",
    Route.PR: "Insert",
    Route.SC: "Inject",
    Route.IM: "Inject",
    Route.OPH: "Instill",
    Route.NAS: "Use",
}


def _num(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def sig_render(
    *,
    dose,
    dose_unit: str,
    route: str,
    frequency: str,
    duration_days=None,
    as_needed=False,
    as_needed_reason: str = "",
) -> str:
    """Readable directions: "Take 1 tablet by mouth twice daily for 10 days"."""
    unit = DoseUnit(dose_unit).label
    if Decimal(dose) != 1 and unit not in ("mL", "mg"):
        unit += "s"
    parts = [_VERBS.get(route, "Use"), _num(dose), unit, Route(route).label, Frequency(frequency).label]
    if as_needed:
        parts.append("as needed" + (f" for {as_needed_reason}" if as_needed_reason else ""))
    if duration_days:
        parts.append(f"for {duration_days} day{'s' if duration_days != 1 else ''}")
    return " ".join(parts)


# ------------------------------------------------------------------ the timeline
def _timeline(rx: Prescription, detail: str, status: str | None = None) -> None:
    """One timeline entry; the prescription's status is unchanged (or given, when it just changed)."""
    PrescriptionEvent.objects.create(
        prescription=rx, patient_id=rx.patient_id, status=status or rx.status, detail=detail[:500]
    )


def _event(rx: Prescription, status: str, detail: str = "") -> None:
    """Move the prescription to `status` and say so on its timeline."""
    rx.status = status
    if status in (RxStatus.NEEDS_ATTENTION, RxStatus.ERROR):
        rx.status_reason = detail[:500]
    elif status in (
        RxStatus.DELIVERED,
        RxStatus.CANCELLED,
        RxStatus.QUEUED,
        RxStatus.SENT,
        RxStatus.CANCEL_REQUESTED,
    ):
        rx.status_reason = ""
    rx.save(update_fields=["status", "status_reason"])
    _timeline(rx, detail, status)


# ------------------------------------------------------------------ writing
def _decimal(value, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError):
        raise ValidationError({name: "Enter a number."}) from None


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        raise ValidationError("Enter whole numbers for days.") from None


def refills_problem(*, refills: int, schedule: str) -> str:
    """Why this refill count is not allowed for this DEA schedule ("" when it is)."""
    if not 0 <= refills <= ncpdp.MAX_REFILLS:
        return f"Refills must be 0-{ncpdp.MAX_REFILLS}."
    if schedule == "II" and refills:
        return "Schedule II prescriptions cannot have refills (21 CFR 1306.12)."
    if refills > refill_limit(schedule):
        return f"Schedule {schedule} prescriptions allow at most {refill_limit(schedule)} refills (21 CFR 1306.22)."
    return ""


def diagnosis_resolve(code) -> tuple[str, str]:
    """(dotted ICD-10-CM code, description) from the shipped code list, or ValidationError. Empty in, empty out."""
    code = (code or "").strip().upper()
    if not code:
        return "", ""
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    found = selectors.icd10_get(code=code)
    if found is None:
        raise ValidationError({"diagnosis": f"{code} is not in the ICD-10-CM code list."})
    return found.code, found.description


def prescription_create(*, actor, patient_id, data: dict, request=None) -> Prescription:
    """A draft prescription. Caller: a prescriber holding PRESCRIBE on the patient.

    Checks the drug exists in the catalog, quantity > 0, refills (0-99; 0 for Schedule II, at most 5 for
    Schedules III-V), the NCPDP unit and the diagnosis (ICD-10-CM code list).
    """
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.PRESCRIBE,
        category=categories.PRESCRIPTION,
        request=request,
        record=False,
    )
    try:
        medication = selectors.medication_get(medication_id=data.get("medication_id"))
    except Exception:
        raise ValidationError({"medication_id": "Unknown drug: pick one from the catalog."}) from None
    quantity = _decimal(data.get("quantity"), "quantity")
    dose = _decimal(data.get("dose", 1), "dose")
    try:
        refills = int(data.get("refills") or 0)
    except (TypeError, ValueError):
        raise ValidationError({"refills": "Enter a whole number."}) from None
    errors = {}
    if quantity <= 0:
        errors["quantity"] = "Quantity must be more than zero."
    if dose <= 0:
        errors["dose"] = "Dose must be more than zero."
    problem = refills_problem(refills=refills, schedule=medication.dea_schedule)
    if problem:
        errors["refills"] = problem
    if data.get("quantity_unit") not in ncpdp.QUANTITY_UNITS:
        errors["quantity_unit"] = "Pick a dispensing unit."
    try:
        diagnosis, diagnosis_description = diagnosis_resolve(data.get("diagnosis"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    pharmacy = data.get("pharmacy") or selectors.pharmacy_preferred(patient=patient)
    rx = Prescription(
        patient=patient,
        prescriber=actor,
        medication=medication,
        dea_schedule=medication.dea_schedule,
        dose=dose,
        dose_unit=data.get("dose_unit") or DoseUnit.TABLET,
        route=data.get("route") or Route.PO,
        frequency=data.get("frequency") or Frequency.QD,
        duration_days=_int_or_none(data.get("duration_days")),
        as_needed=bool(data.get("as_needed")),
        as_needed_reason=data.get("as_needed_reason") or "",
        quantity=quantity,
        quantity_unit=data["quantity_unit"],
        days_supply=_int_or_none(data.get("days_supply")),
        refills=refills,
        substitution_allowed=data.get("substitution_allowed", True) not in (False, "", "0", "false"),
        note_to_pharmacist=data.get("note_to_pharmacist") or "",
        diagnosis=diagnosis,
        diagnosis_description=diagnosis_description,
        pharmacy=pharmacy,
        status=RxStatus.DRAFT,
    )
    rx.prescriber_order_number = rx.id.hex
    rx.sig_text = sig_render(
        dose=rx.dose,
        dose_unit=rx.dose_unit,
        route=rx.route,
        frequency=rx.frequency,
        duration_days=rx.duration_days,
        as_needed=rx.as_needed,
        as_needed_reason=rx.as_needed_reason,
    )
    rx.full_clean()
    with transaction.atomic():
        rx.save(force_insert=True)
        _timeline(rx, "written")
        access_record(
            actor=actor,
            action=Action.CREATE,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"prescription": str(rx.pk)},
        )
    return rx


def pharmacy_set_preferred(*, actor, patient_id, pharmacy_id, request=None) -> Pharmacy:
    """Record the patient's preferred pharmacy. Caller: anyone who may change the patient's demographics
    (front desk at check-in, nurses, clinicians). Recorded by django-auditlog and as an access event."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        category=categories.DEMOGRAPHICS,
        request=request,
        record=False,
    )
    pharmacy = selectors.pharmacy_get(pharmacy_id=pharmacy_id)
    with transaction.atomic():
        pref = PatientPharmacy.objects.select_for_update().filter(patient=patient).first()
        if pref is None:
            pref = PatientPharmacy(patient=patient, pharmacy=pharmacy)
            pref.full_clean()
            pref.save(force_insert=True)
        elif pref.pharmacy_id != pharmacy.pk:
            pref.pharmacy = pharmacy
            pref.save(update_fields=["pharmacy", "updated_at"])
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.DEMOGRAPHICS,
            patient_id=patient.pk,
            request=request,
            detail={"preferred_pharmacy": pharmacy.ncpdp_id},
        )
    return pharmacy


# ------------------------------------------------------------------ NCPDP mapping
def _patient_data(patient) -> ncpdp.PatientData:
    addr = (patient.addresses or [{}])[0]
    if not (addr.get("line") and addr.get("city") and addr.get("state") and addr.get("postal_code")):
        raise ValidationError(
            "The patient's home address is needed for an electronic prescription (NCPDP §2)."
        )
    phone = next((p.get("value", "") for p in (patient.phones or []) if p.get("value")), "")
    gender = {"M": "M", "F": "F"}.get(patient.sex_at_birth, "U")
    return ncpdp.PatientData(
        last_name=patient.family_name[:35],
        first_name=patient.given_name[:35],
        gender=gender,
        birth_date=patient.birth_date,
        middle_name=patient.middle_name[:35],
        phone="".join(c for c in phone if c.isdigit())[-10:],
        address=ncpdp.AddressData(
            line1=addr["line"][:40],
            city=addr["city"],
            state=addr["state"][:2],
            postal_code=addr["postal_code"],
            country=addr.get("country") or "US",
        ),
    )


def _pharmacy_data(pharmacy: Pharmacy) -> ncpdp.PharmacyData:
    address = None
    if pharmacy.address_line and pharmacy.city:
        address = ncpdp.AddressData(
            line1=pharmacy.address_line,
            city=pharmacy.city,
            state=pharmacy.state,
            postal_code=pharmacy.postal_code,
        )
    return ncpdp.PharmacyData(
        ncpdp_id=pharmacy.ncpdp_id,
        npi=pharmacy.npi or "NONE",
        name=pharmacy.name,
        phone=pharmacy.phone or "0000000000",
        address=address,
    )


def spi_for(user) -> str:
    """The prescriber's SPI for the header's From (reference §1: From qualifier D carries the SPI, not the NPI).

    The SPI recorded by a practice admin (PrescriberSpi) when there is one. Otherwise a documented stand-in:
    the NPI followed by the location suffix "001" (13 digits, the SPI's shape). Real networks check the SPI
    against the connection's account, so a production install records every prescriber's assigned SPI.
    """
    registered = selectors.prescriber_spi(user=user)
    return registered or f"{user.practitioner.npi}001"


def _prescriber_data(user) -> ncpdp.PrescriberData:
    practitioner = user.practitioner
    return ncpdp.PrescriberData(
        npi=practitioner.npi,
        last_name=user.last_name or user.username,
        first_name=user.first_name or "-",
        address=ncpdp.AddressData(**CLINIC_ADDRESS),
        phone=practitioner.phone or CLINIC_PHONE,
        dea_number=practitioner.dea_number,
    )


def _medication_data(rx: Prescription) -> ncpdp.MedicationData:
    return ncpdp.MedicationData(
        description=rx.medication.name[:105],
        quantity=rx.quantity,
        quantity_unit=rx.quantity_unit,
        written_date=timezone.localdate(rx.signed_at or timezone.now()),
        sig_text=rx.sig_text,
        refills=rx.refills,
        days_supply=rx.days_supply,
        substitutions=0 if rx.substitution_allowed else 1,
        rxnorm_code=rx.medication.rxcui,
        rxnorm_qualifier="SBD" if rx.medication.tty == "SBD" else "SCD",
        dea_schedule=DEA_SCHEDULE_CODES.get(rx.dea_schedule, ""),
        diagnosis_code=rx.diagnosis.replace(".", ""),
        diagnosis_description=rx.diagnosis_description[:DIAGNOSIS_DESCRIPTION_MAX] if rx.diagnosis else "",
        note=rx.note_to_pharmacist,
    )


def _new_rx_data(rx: Prescription, message_id: str) -> ncpdp.NewRxData:
    header = ncpdp.MessageHeader(
        to_id=rx.pharmacy.ncpdp_id,
        from_id=spi_for(rx.prescriber),
        message_id=message_id,
        prescriber_order_number=rx.prescriber_order_number,
        software=SOFTWARE,
    )
    return ncpdp.NewRxData(
        header=header,
        patient=_patient_data(rx.patient),
        pharmacy=_pharmacy_data(rx.pharmacy),
        prescriber=_prescriber_data(rx.prescriber),
        medication=_medication_data(rx),
    )


def _enqueue(msg_id) -> None:
    """Queue the send after commit. If the broker is down the row stays pending: requeue_stuck sends it later."""
    from .tasks import transmit_message

    def go():
        try:
            transmit_message.delay(str(msg_id))
        except Exception:  # broker unreachable: the outbox row is the source of truth
            logger.warning("could not queue outbound message %s; requeue_stuck will pick it up", msg_id)

    transaction.on_commit(go)


def _outbox(
    *,
    rx: Prescription | None,
    message_type: str,
    message_id: str,
    xml: bytes,
    pharmacy: Pharmacy,
    inbox_item=None,
    status: str = OutboundStatus.PENDING,
    reason: str = "",
) -> OutboundMessage:
    """Store one message to send (queued after commit unless created in another status, e.g. needs attention)."""
    msg = OutboundMessage.objects.create(
        prescription=rx,
        patient_id=rx.patient_id if rx else None,
        pharmacy=pharmacy,
        inbox_item=inbox_item,
        message_type=message_type,
        message_id=message_id,
        payload=xml,
        endpoint=pharmacy.endpoint,
        status=status,
        last_error=reason[:500],
        next_attempt_at=timezone.now(),
    )
    if status == OutboundStatus.PENDING:
        _enqueue(msg.pk)
    return msg


def _not_accepted(pharmacy: Pharmacy | None, message_type: str) -> str:
    return f"{pharmacy or 'The pharmacy'} does not accept {message_type} electronically" + (
        f" (phone {pharmacy.phone}" + (f", fax {pharmacy.fax})" if pharmacy.fax else ")") if pharmacy else ""
    )


# ------------------------------------------------------------------ signing
def _authorize_signature(
    *,
    actor,
    patient,
    medication: Medication,
    schedule: str,
    password: str,
    totp_code: str,
    override_reasons,
    request,
) -> list[dict]:
    """The signing rules, shared by new prescriptions and approved renewals and changes; returns the overrides.

    A practitioner with an NPI; for schedules II-V a valid, unexpired DEA registration and a TOTP code (DEA EPCS,
    21 CFR 1311.120: two factors at signing); the password again (re-authentication, counted by axes towards the
    lockout); an override reason for every high-severity alert. The one-time code is verified LAST: verifying
    consumes it (django-otp refuses a code twice), so a refusal for any other reason must not cost the code.
    """
    practitioner = getattr(actor, "practitioner", None)
    if practitioner is None:
        raise ValidationError("Only a practitioner with an NPI can sign prescriptions.")
    controlled = bool(schedule)
    if controlled:
        if not practitioner.can_prescribe_controlled(timezone.localdate()):
            raise ValidationError("A valid, unexpired DEA registration is needed for controlled substances.")
        if not (totp_code or "").strip():
            raise ValidationError({"totp_code": "Enter the current code from your authenticator app."})
    if authenticate(request or HttpRequest(), username=actor.get_username(), password=password or "") is None:
        raise ValidationError({"password": "Password incorrect: signing needs your password again."})
    alerts = selectors.prescription_check(patient=patient, medication=medication)
    reasons = {k: v.strip() for k, v in (override_reasons or {}).items() if v and v.strip()}
    high = [a for a in alerts if a.severity == "high"]
    if any(a.key not in reasons for a in high):
        raise AlertsNeedOverride(alerts)
    if controlled:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        devices = list(TOTPDevice.objects.filter(user=actor, confirmed=True))
        if not any(d.verify_token(totp_code.strip()) for d in devices):
            raise ValidationError({"totp_code": "Enter the current code from your authenticator app."})
    return [{"source": a.source, "message": a.message, "reason": reasons[a.key]} for a in high]


def prescription_sign(
    *,
    actor,
    prescription_id,
    password: str,
    totp_code: str = "",
    override_reasons: dict[str, str] | None = None,
    request=None,
) -> Prescription:
    """Sign a draft (see _authorize_signature for the rules), then queue the NewRx when the pharmacy takes
    NewRx electronically, or leave it signed for printing / faxing. Caller: the prescriber who wrote it.
    """
    rx = selectors.prescription_get(
        actor=actor, prescription_id=prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    if rx.prescriber_id != actor.pk:
        raise PermissionDenied("Only the prescriber who wrote it can sign this prescription.")
    if rx.status != RxStatus.DRAFT:
        raise ValidationError("This prescription is already signed.")
    overrides = _authorize_signature(
        actor=actor,
        patient=rx.patient,
        medication=rx.medication,
        schedule=rx.dea_schedule,
        password=password,
        totp_code=totp_code,
        override_reasons=override_reasons,
        request=request,
    )
    pharmacy = rx.pharmacy
    electronic = bool(pharmacy and pharmacy.accepts_message(ncpdp.NEW_RX))
    with transaction.atomic():
        locked = Prescription.objects.select_for_update().get(pk=rx.pk)
        if locked.status != RxStatus.DRAFT:
            raise ValidationError("This prescription is already signed.")
        rx.signed_at = timezone.now()
        rx.override_reasons = overrides
        rx.save(update_fields=["signed_at", "override_reasons"])
        _event(rx, RxStatus.SIGNED, "signed with re-authentication" + (" + TOTP" if rx.dea_schedule else ""))
        if electronic:
            message_id = ncpdp.new_message_id()
            xml = ncpdp.build_new_rx(_new_rx_data(rx, message_id))
            _outbox(rx=rx, message_type=ncpdp.NEW_RX, message_id=message_id, xml=xml, pharmacy=pharmacy)
            _event(rx, RxStatus.QUEUED, f"NewRx {message_id} to {pharmacy.name}")
        elif pharmacy is not None and pharmacy.is_electronic:
            _timeline(rx, f"{_not_accepted(pharmacy, ncpdp.NEW_RX)}: print or fax this prescription")
        _medication_record(rx, actor)
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={
                "prescription": str(rx.pk),
                "overrides": overrides,
                "controlled": rx.dea_schedule or None,
            },
        )
    return rx


def _medication_record(rx: Prescription, actor) -> None:
    """Put the prescribed drug on the patient's medication list (owned by encounters)."""
    from encounters import services as enc

    enc.medication_record_prescribed(
        patient=rx.patient,
        rxcui=rx.medication.rxcui,
        name=rx.medication.name,
        dose_text=rx.sig_text,
        prescription_id=rx.pk,
        actor=actor,
    )


# ------------------------------------------------------------------ cancel
def _close_outbox(rx: Prescription, detail: str) -> None:
    """The prescription is final (cancelled): nothing of it is ever sent again, and nobody needs to look at it."""
    for msg in OutboundMessage.objects.select_for_update(of=("self",)).filter(
        prescription=rx, status__in=(OutboundStatus.PENDING, OutboundStatus.NEEDS_ATTENTION)
    ):
        msg.status = OutboundStatus.WITHDRAWN
        msg.last_error = detail[:500]
        msg.save(update_fields=["status", "last_error", "updated_at"])


# The message that hands a prescription to the pharmacy: its NewRx, or the approved RxRenewalResponse /
# RxChangeResponse that created it (an approval authorises dispensing by itself, no NewRx follows).
CARRIERS = (ncpdp.NEW_RX, ncpdp.RX_RENEWAL_RESPONSE, ncpdp.RX_CHANGE_RESPONSE)


def _carries(msg: OutboundMessage, rx: Prescription) -> bool:
    if msg.message_type == ncpdp.NEW_RX:
        return True
    return (
        msg.message_type in CARRIERS
        and rx.replaces_id is not None
        and msg.inbox_item_id is not None
        and msg.inbox_item.prescription_id == rx.replaces_id
    )


def _carrier(rx: Prescription) -> OutboundMessage | None:
    """The prescription's carrier message, locked (see CARRIERS)."""
    rows = (
        OutboundMessage.objects.select_for_update(of=("self",))
        .select_related("inbox_item", "pharmacy")
        .filter(prescription=rx, message_type__in=CARRIERS)
        .order_by("-created_at")
    )
    return next((m for m in rows if _carries(m, rx)), None)


def _cancel_locally(rx: Prescription, detail: str) -> None:
    _close_outbox(rx, detail)
    rx.status_before_cancel = ""
    rx.save(update_fields=["status_before_cancel"])
    _event(rx, RxStatus.CANCELLED, detail)


def prescription_cancel(*, actor, prescription_id, request=None) -> Prescription:
    """Cancel a prescription. Caller: a prescriber holding PRESCRIBE on the patient.

    - Nothing went out (a draft, a printed prescription, a NewRx still queued and never attempted, a NewRx the
      pharmacy refused with an Error): cancelled here, no CancelRx, and a queued NewRx is never sent.
    - The pharmacy holds the NewRx, or may (an attempt was made): a CancelRx related to the NewRx (§4). It waits
      until the NewRx is answered, so it never overtakes it. Cancelled once the pharmacy approves; a denial puts
      the prescription back as it was.
    - The pharmacy does not take CancelRx electronically: needs attention (phone or fax the pharmacy).
    """
    rx = selectors.prescription_get(
        actor=actor, prescription_id=prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    with transaction.atomic():
        rx_locked = Prescription.objects.select_for_update().get(pk=rx.pk)
        status = rx.status = rx_locked.status
        rx.status_before_cancel = rx_locked.status_before_cancel
        new_rx = _carrier(rx)
        if status == RxStatus.DRAFT:
            _cancel_locally(rx, "cancelled before signing")
        elif status in (RxStatus.SIGNED, RxStatus.PRINTED) and new_rx is None:
            _cancel_locally(
                rx, "cancelled (not sent electronically: tell the pharmacy if it was printed or faxed)"
            )
        elif status in (RxStatus.QUEUED, RxStatus.SENT, RxStatus.DELIVERED, RxStatus.NEEDS_ATTENTION):
            if new_rx is None:
                _cancel_locally(rx, "cancelled (no electronic prescription was sent)")
            elif new_rx.status == OutboundStatus.PENDING and new_rx.attempts == 0:
                _cancel_locally(
                    rx,
                    f"cancelled before transmission: {new_rx.message_type} {new_rx.message_id} withdrawn, never sent",
                )
            elif new_rx.status in (OutboundStatus.NEEDS_ATTENTION, OutboundStatus.FAILED) and (
                new_rx.last_answer.startswith(ncpdp.ERROR)
            ):
                _cancel_locally(
                    rx,
                    f"cancelled: the pharmacy had refused the {new_rx.message_type} ({new_rx.last_answer})",
                )
            else:
                _cancel_rx_queue(rx, new_rx, prior_status=status)
        elif status == RxStatus.CANCEL_REQUESTED:
            raise ValidationError("A cancel is already on its way to the pharmacy.")
        else:
            raise ValidationError(
                f"A prescription that is {rx_locked.get_status_display().lower()} cannot be cancelled."
            )
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={"prescription": str(rx.pk), "cancel": rx.status},
        )
    return rx


def _cancel_rx_queue(rx: Prescription, new_rx: OutboundMessage, *, prior_status: str) -> None:
    pharmacy = new_rx.pharmacy or rx.pharmacy
    # A cancel asked for again replaces an earlier CancelRx that is still waiting or needs attention.
    OutboundMessage.objects.filter(
        prescription=rx,
        message_type=ncpdp.CANCEL_RX,
        status__in=(OutboundStatus.PENDING, OutboundStatus.NEEDS_ATTENTION),
    ).update(
        status=OutboundStatus.WITHDRAWN, last_error="replaced by a newer CancelRx", updated_at=timezone.now()
    )
    message_id = ncpdp.new_message_id()
    xml = ncpdp.build_cancel_rx(
        _new_rx_data(rx, new_rx.message_id), message_id=message_id, relates_to_message_id=new_rx.message_id
    )
    rx.status_before_cancel = (
        rx.status_before_cancel
        if prior_status == RxStatus.NEEDS_ATTENTION and rx.status_before_cancel
        else prior_status
    )
    rx.save(update_fields=["status_before_cancel"])
    if not pharmacy.accepts_message(ncpdp.CANCEL_RX):
        reason = (
            f"{_not_accepted(pharmacy, ncpdp.CANCEL_RX)}: phone or fax the pharmacy to cancel, then resolve"
        )
        _outbox(
            rx=rx,
            message_type=ncpdp.CANCEL_RX,
            message_id=message_id,
            xml=xml,
            pharmacy=pharmacy,
            status=OutboundStatus.NEEDS_ATTENTION,
            reason=reason,
        )
        _event(rx, RxStatus.NEEDS_ATTENTION, f"CancelRx not sent: {reason}")
        return
    _outbox(rx=rx, message_type=ncpdp.CANCEL_RX, message_id=message_id, xml=xml, pharmacy=pharmacy)
    waits = new_rx.status in (OutboundStatus.PENDING, OutboundStatus.SENDING)
    _event(
        rx,
        RxStatus.CANCEL_REQUESTED,
        f"CancelRx {message_id}" + (" (waits until the NewRx is answered)" if waits else ""),
    )


# ------------------------------------------------------------------ the outbox
SENDABLE = (OutboundStatus.PENDING, OutboundStatus.SENDING)


@contextlib.contextmanager
def _send_lock(pk: uuid.UUID):
    """A session advisory lock on one message for the whole exchange: one sender at a time. PostgreSQL drops it
    with the connection, so a SIGKILLed worker never leaves it held. Yields whether we got it."""
    key = int.from_bytes(pk.bytes[:8], "big", signed=True)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = cur.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [key])


def _lock_message(pk) -> OutboundMessage | None:
    return (
        OutboundMessage.objects.select_for_update(of=("self",))
        .select_related("prescription__patient", "pharmacy", "inbox_item")
        .filter(pk=pk)
        .first()
    )


def _new_rx_unanswered(msg: OutboundMessage) -> bool:
    """A CancelRx waits while its prescription's NewRx (or approving response) may still be on its way: it never
    overtakes it."""
    return OutboundMessage.objects.filter(
        prescription_id=msg.prescription_id, message_type__in=CARRIERS, status__in=SENDABLE
    ).exists()


def outbound_send(message_id) -> str:
    """Send one outbox row and process the pharmacy's answer. Called by the transmit_message task.

    Returns "acknowledged", "rejected" (needs attention), "retry" (transient: connection error, timeout, HTTP 5xx,
    NCPDP 600/602), "busy" (another worker is sending it), "waiting" (a CancelRx behind its NewRx) or "skipped"
    (already final, withdrawn or waiting for a human: never re-sent).
    """
    pk = selectors.as_uuid(message_id)
    if pk is None:
        return "skipped"
    with _send_lock(pk) as held:
        if not held:
            return "busy"
        with transaction.atomic():
            msg = _lock_message(pk)
            if msg is None or msg.status not in SENDABLE:
                return "skipped"
            if msg.pharmacy is not None and not msg.pharmacy.accepts_message(msg.message_type):
                return _permanent(msg, _not_accepted(msg.pharmacy, msg.message_type))
            if msg.message_type == ncpdp.CANCEL_RX and _new_rx_unanswered(msg):
                msg.next_attempt_at = timezone.now() + timedelta(seconds=CANCEL_WAIT_SECONDS)
                msg.save(update_fields=["next_attempt_at", "updated_at"])
                return "waiting"
            # Committed before the request: from now on the pharmacy may hold these bytes.
            msg.attempts += 1
            msg.status = OutboundStatus.SENDING
            msg.save(update_fields=["attempts", "status", "updated_at"])
        outcome = _post(msg)
        with transaction.atomic():
            msg = _lock_message(pk)
            if msg is None or msg.status != OutboundStatus.SENDING:
                return "skipped"  # an asynchronous answer got here first
            return _apply_answer(msg, *outcome)


def _post(msg: OutboundMessage) -> tuple[str, object]:
    """The HTTP exchange, outside any transaction. Returns ("transient", reason), ("unreadable", reason) or
    ("answer", ParsedMessage)."""
    try:
        resp = requests.post(
            msg.endpoint,
            data=bytes(msg.payload),
            timeout=SEND_TIMEOUT_SECONDS,
            headers={"Content-Type": "application/xml"},
        )
    except requests.Timeout:
        return "transient", f"timed out after {SEND_TIMEOUT_SECONDS}s (no answer)"
    except requests.RequestException as exc:
        return "transient", f"{type(exc).__name__}: {exc}"[:500]
    if resp.status_code >= 500:
        return "transient", f"HTTP {resp.status_code}"
    try:
        return "answer", ncpdp.parse_message(resp.content)
    except ncpdp.NcpdpError as exc:
        return "unreadable", f"HTTP {resp.status_code}, unreadable answer: {exc.reason}"


def _apply_answer(msg: OutboundMessage, kind: str, value) -> str:
    if kind == "transient":
        return _transient(msg, value)
    if kind == "unreadable":
        return _permanent(msg, value)
    return _answer(msg, value, asynchronous=False)


def _answer(msg: OutboundMessage, answer: ncpdp.ParsedMessage, *, asynchronous: bool) -> str:
    """What a Status, Verify or Error about `msg` means (reference §3), synchronous or not."""
    code = answer.fields.get("code", "")
    how = "asynchronous " if asynchronous else ""
    if answer.message_type == ncpdp.ERROR:
        msg.last_answer = f"{ncpdp.ERROR} {code}"[:40]
        text = f"{how}Error {code} {answer.fields.get('description', '')}".strip()
        if ncpdp.is_transient_error(code):
            return _transient(msg, text)
        return _permanent(msg, text)
    if answer.message_type in (ncpdp.STATUS, ncpdp.VERIFY):
        final = code == ncpdp.STATUS_DELIVERED or answer.message_type == ncpdp.VERIFY
        msg.status = OutboundStatus.ACKNOWLEDGED if final else OutboundStatus.SENT
        msg.last_error = ""
        msg.last_answer = f"{answer.message_type} {code}"[:40]
        if not final:
            # Accepted by the network, final answer to come: it is due by this deadline (then: needs attention).
            deadline = ANSWER_DEADLINE_SECONDS.get(msg.message_type, DEFAULT_ANSWER_DEADLINE_SECONDS)
            msg.next_attempt_at = timezone.now() + timedelta(seconds=deadline)
        msg.save(
            update_fields=["status", "attempts", "last_error", "last_answer", "next_attempt_at", "updated_at"]
        )
        _after_ack(msg, final, f"{how}{answer.message_type} {code}".strip())
        return "acknowledged"
    return _permanent(msg, f"unexpected answer {answer.message_type}")


def _transient(msg: OutboundMessage, reason: str) -> str:
    msg.last_error = reason[:500]
    if msg.attempts >= MAX_ATTEMPTS:
        return _permanent(msg, f"gave up after {msg.attempts} attempts: {reason}")
    delay = min(2**msg.attempts, 60)
    msg.status = OutboundStatus.PENDING
    msg.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    msg.save(
        update_fields=["status", "attempts", "last_error", "last_answer", "next_attempt_at", "updated_at"]
    )
    if msg.prescription is not None:
        _timeline(
            msg.prescription,
            f"{msg.message_type} attempt {msg.attempts} of {MAX_ATTEMPTS} failed: {reason}; will retry",
        )
    # Signalled by the return value, not an exception: raising inside the atomic block would roll the
    # bookkeeping back. The task turns "retry" into a Celery retry with backoff.
    return "retry"


def _permanent(msg: OutboundMessage, reason: str) -> str:
    msg.status = OutboundStatus.NEEDS_ATTENTION
    msg.last_error = reason[:500]
    msg.save(update_fields=["status", "attempts", "last_error", "last_answer", "updated_at"])
    rx = msg.prescription
    if rx is not None:
        refused = msg.last_answer.startswith(ncpdp.ERROR)
        carrier = _carries(msg, rx)
        if carrier and rx.status == RxStatus.CANCEL_REQUESTED and refused:
            # The pharmacy refused the NewRx: it holds nothing to cancel, so the waiting CancelRx never goes.
            _timeline(rx, f"{msg.message_type}: {reason}")
            _cancel_locally(rx, f"cancelled: the pharmacy refused the {msg.message_type}; no CancelRx needed")
        elif carrier and rx.status == RxStatus.CANCEL_REQUESTED:
            # No answer ever came: the CancelRx may go now (it waited for the NewRx to be settled).
            _timeline(rx, f"{msg.message_type}: {reason}")
            _enqueue_waiting(rx)
        else:
            _event(rx, RxStatus.NEEDS_ATTENTION, f"{msg.message_type}: {reason}")
    return "rejected"


def _enqueue_waiting(rx: Prescription) -> None:
    """Queue the prescription's pending messages now (a CancelRx that was waiting for its NewRx)."""
    for pk in OutboundMessage.objects.filter(
        prescription=rx, status=OutboundStatus.PENDING, message_type=ncpdp.CANCEL_RX
    ).values_list("pk", flat=True):
        _enqueue(pk)


def _after_ack(msg: OutboundMessage, final: bool, detail: str) -> None:
    rx = msg.prescription
    if rx is None:
        return
    carries = _carries(msg, rx)
    new_status = RxStatus.DELIVERED if final else RxStatus.SENT
    if carries and rx.status == RxStatus.CANCEL_REQUESTED:
        # A cancel is waiting: remember where a denial would put the prescription back, and let the CancelRx go.
        rx.status_before_cancel = new_status
        rx.save(update_fields=["status_before_cancel"])
        _timeline(rx, f"{msg.message_type} {detail} (cancel pending)")
        _enqueue_waiting(rx)
    elif carries and rx.status in (RxStatus.QUEUED, RxStatus.SENT, RxStatus.NEEDS_ATTENTION, RxStatus.SIGNED):
        _event(rx, new_status, f"{msg.message_type} {detail}")
    elif msg.message_type == ncpdp.CANCEL_RX:
        _timeline(rx, f"CancelRx accepted ({detail}); waiting for the pharmacy's CancelRxResponse")
    else:
        _timeline(rx, f"{msg.message_type} accepted: {detail}")


def outbound_give_up(message_id, reason: str) -> None:
    """The task ran out of retries: a human takes over."""
    with transaction.atomic():
        msg = _lock_message(message_id)
        if msg and msg.status in SENDABLE:
            _permanent(msg, reason)


def outbound_requeue_stuck(*, older_than_seconds: int | None = None) -> list[str]:
    """Re-queue messages pending/sending for too long (lost task, broker restart). Safe to over-queue:
    outbound_send's advisory lock and status guard make an extra task a no-op."""
    from .tasks import transmit_message

    cutoff = timezone.now() - timedelta(
        seconds=STUCK_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    )
    rows = list(
        OutboundMessage.objects.filter(
            status__in=SENDABLE,
            updated_at__lt=cutoff,
            next_attempt_at__lt=timezone.now(),
        ).values_list("pk", "patient_id")[:500]
    )
    queued = []
    for pk, _ in rows:
        try:
            transmit_message.delay(str(pk))
            queued.append(pk)
        except Exception:
            logger.warning("broker unreachable; %s stays pending", pk)
            break
    if queued:
        # A bulk write: recorded explicitly (auditlog does not see update()).
        OutboundMessage.objects.filter(pk__in=queued).update(updated_at=timezone.now())
        access_record(
            actor=None,
            action=Action.TRANSMIT,
            category=categories.PRESCRIPTION,
            patient_ids=sorted({str(p) for pk, p in rows if p and pk in queued}),
            channel="task",
            detail={"requeued": len(queued)},
        )
    return [str(pk) for pk in queued]


def outbound_expire_unanswered() -> list[str]:
    """Messages accepted by the network (Status 000) whose final answer is overdue go to needs attention.
    Run by the periodic requeue job (reference §3: no answer within a deadline -> unknown)."""
    due = list(
        OutboundMessage.objects.filter(
            status=OutboundStatus.SENT, next_attempt_at__lt=timezone.now()
        ).values_list("pk", flat=True)[:500]
    )
    expired = []
    for pk in due:
        with transaction.atomic():
            msg = _lock_message(pk)
            if msg is None or msg.status != OutboundStatus.SENT or msg.next_attempt_at >= timezone.now():
                continue
            hours = ANSWER_DEADLINE_SECONDS.get(msg.message_type, DEFAULT_ANSWER_DEADLINE_SECONDS) / 3600
            _permanent(
                msg,
                f"no final answer within {hours:g} h after {msg.last_answer or 'Status 000'} "
                "(accepted by the network only): check with the pharmacy",
            )
            expired.append(str(pk))
    return expired


def _attention_message(*, actor, message_id, request) -> tuple[OutboundMessage, object]:
    """A needs-attention message and its patient, if `actor` may change the patient's clinical record (else 404,
    recorded as denied). Checked before the caller's transaction."""
    found = selectors.outbound_patient_id(message_id=message_id)
    if found is None:
        raise Http404("No such message")
    patient = patient_get(
        actor=actor,
        patient_id=found,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PRESCRIPTION,
        request=request,
        record=False,
    )
    return found, patient


def outbound_retry(*, actor, message_id, request=None) -> OutboundMessage:
    """Send a needs-attention message again (same MessageID: the pharmacy de-duplicates). Caller: a user who may
    change the patient's clinical record (a nurse or clinician on the care team)."""
    _, patient = _attention_message(actor=actor, message_id=message_id, request=request)
    with transaction.atomic():
        msg = _lock_message(message_id)
        if msg.status != OutboundStatus.NEEDS_ATTENTION:
            raise ValidationError("Only messages that need attention can be retried.")
        if msg.pharmacy is not None and not msg.pharmacy.accepts_message(msg.message_type):
            raise ValidationError(
                f"{_not_accepted(msg.pharmacy, msg.message_type)}: resolve it by phone or fax."
            )
        rx = msg.prescription
        if (
            rx is not None
            and msg.message_type == ncpdp.NEW_RX
            and rx.status
            in (
                RxStatus.CANCEL_REQUESTED,
                RxStatus.CANCELLED,
            )
        ):
            raise ValidationError("This prescription is being cancelled: its NewRx is not sent again.")
        msg.status, msg.attempts, msg.next_attempt_at = OutboundStatus.PENDING, 0, timezone.now()
        msg.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
        if rx is not None:
            detail = f"{msg.message_type} retried by {actor.get_username()}"
            if msg.message_type == ncpdp.CANCEL_RX:
                _event(rx, RxStatus.CANCEL_REQUESTED, detail)
            elif rx.status == RxStatus.NEEDS_ATTENTION and msg.message_type == ncpdp.NEW_RX:
                _event(rx, RxStatus.QUEUED, detail)
            else:
                _timeline(rx, detail)
        access_record(
            actor=actor,
            action=Action.TRANSMIT,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"retry": msg.message_id},
        )
        _enqueue(msg.pk)
    return msg


def outbound_resolve(*, actor, message_id, note: str = "", request=None) -> OutboundMessage:
    """Close a needs-attention message by hand (phoned or faxed). A NewRx makes the prescription an error; a
    CancelRx phoned or faxed to the pharmacy makes it cancelled. Caller: as outbound_retry."""
    _, patient = _attention_message(actor=actor, message_id=message_id, request=request)
    with transaction.atomic():
        msg = _lock_message(message_id)
        if msg.status != OutboundStatus.NEEDS_ATTENTION:
            raise ValidationError("Only messages that need attention can be resolved.")
        msg.status = OutboundStatus.FAILED
        msg.last_error = f"resolved by {actor.get_username()}: {note}"[:500]
        msg.save(update_fields=["status", "last_error", "updated_at"])
        rx = msg.prescription
        if rx is not None:
            if msg.message_type == ncpdp.CANCEL_RX:
                _cancel_locally(rx, f"cancel phoned or faxed to the pharmacy: {note}")
            elif msg.message_type == ncpdp.NEW_RX:
                _event(rx, RxStatus.ERROR, f"resolved by hand: {note}")
            else:
                _timeline(rx, f"{msg.message_type} resolved by hand: {note}")
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"resolved": msg.message_id},
        )
    return msg


# ------------------------------------------------------------------ inbound
# The signature accepts a clock skew of DEFAULT_MAX_SKEW either way: a nonce must outlive that window.
NONCE_TTL_SECONDS = 2 * signing.DEFAULT_MAX_SKEW + 60
ANSWER_TYPES = frozenset({ncpdp.STATUS, ncpdp.VERIFY, ncpdp.ERROR})
INBOX_KINDS = {
    ncpdp.RX_RENEWAL_REQUEST: InboxKind.RENEWAL,
    ncpdp.RX_CHANGE_REQUEST: InboxKind.CHANGE,
    ncpdp.CANCEL_RX_RESPONSE: InboxKind.CANCEL_RESPONSE,
}


class InboundRejected(Exception):
    def __init__(self, http_status: int, reason: str, body: bytes = b""):
        super().__init__(reason)
        self.http_status, self.reason, self.body = http_status, reason, body


def error_reply(reason: str, code=ncpdp.ERROR_REJECTED, desc=ncpdp.DESC_XML_SYNTAX, parsed=None) -> bytes:
    """An NCPDP Error answer; related to `parsed` when its MessageID could be read."""
    if parsed is not None:
        header = ncpdp.reply_header(parsed, software=SOFTWARE)
    else:
        header = ncpdp.MessageHeader(
            to_id="unknown",
            to_qualifier="ZZZ",
            from_id="ehr",
            from_qualifier="ZZZ",
            message_id=ncpdp.new_message_id(),
            software=SOFTWARE,
        )
    return ncpdp.build_error(code, reason[:200], header=header, description_codes=(desc,))


def _nonce_claim(*, pharmacy: Pharmacy, nonce: str) -> bool:
    """True the first time this pharmacy uses this nonce. In PostgreSQL (unique constraint), so replay
    protection does not depend on the cache being up."""
    try:
        with transaction.atomic():
            InboundNonce.objects.create(
                pharmacy_ncpdp_id=pharmacy.ncpdp_id,
                nonce=nonce,
                expires_at=timezone.now() + timedelta(seconds=NONCE_TTL_SECONDS),
            )
    except IntegrityError:
        return False
    return True


def inbound_nonces_purge() -> int:
    """Beat: delete nonces past their expiry (the signature check refuses their timestamps anyway)."""
    deleted, _ = InboundNonce.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def _refuse(*, pharmacy: Pharmacy, parsed: ncpdp.ParsedMessage, patient_id, why: str) -> InboundRejected:
    """Record a refused inbound message that points at a patient's prescription it may not touch, and build
    the same answer as for an unknown prescription (no oracle for which order numbers exist)."""
    access_record(
        actor=None,
        action=Action.VIEW,
        category=categories.PRESCRIPTION,
        patient_id=patient_id,
        outcome=Outcome.DENIED,
        channel="ncpdp",
        detail={
            "refused": why,
            "pharmacy": pharmacy.ncpdp_id,
            "message_type": parsed.message_type,
            "message_id": parsed.message_id,
        },
    )
    reason = "cannot identify the prescriber or the prescription"
    return InboundRejected(400, reason, error_reply(reason, desc=ncpdp.DESC_CANNOT_IDENTIFY, parsed=parsed))


def inbound_receive(*, headers, body: bytes) -> bytes:
    """Authenticate and store a pharmacy's message; returns the Status to answer with (reference §6).

    Raises InboundRejected(401) for bad authentication, (409) for a replayed nonce, (400) with an NCPDP Error body
    for a malformed, unsupported or unidentifiable message. A message about a prescription that was not sent to
    the sending pharmacy is refused and recorded. A re-delivered MessageID gets the same Status and is applied once.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    pharmacy = selectors.pharmacy_by_ncpdp(ncpdp_id=lowered.get(signing.HEADER_PHARMACY_ID.lower(), "")[:7])
    if pharmacy is None or not pharmacy.inbound_secret:
        raise InboundRejected(401, "unknown sender")
    try:
        signing.verify_signature(pharmacy.inbound_secret, headers, body)
    except signing.SignatureError as exc:
        raise InboundRejected(401, exc.reason) from None
    if not _nonce_claim(pharmacy=pharmacy, nonce=lowered[signing.HEADER_NONCE.lower()].strip()):
        raise InboundRejected(409, "replayed request (nonce already used)")
    try:
        parsed = ncpdp.parse_message(body)
    except ncpdp.NcpdpError as exc:
        raise InboundRejected(400, exc.reason, error_reply(exc.reason)) from None
    if parsed.message_type in ANSWER_TYPES:
        return _inbound_answer(pharmacy=pharmacy, parsed=parsed)
    if parsed.message_type not in INBOX_KINDS:
        reason = f"the EHR does not accept {parsed.message_type} here"
        raise InboundRejected(400, reason, error_reply(reason, desc=ncpdp.DESC_NOT_SUPPORTED, parsed=parsed))
    status = ncpdp.build_status(ncpdp.STATUS_DELIVERED, header=ncpdp.reply_header(parsed, software=SOFTWARE))
    if selectors.inbox_item_exists(message_id=parsed.message_id):
        return status
    rx = _inbound_prescription(pharmacy=pharmacy, parsed=parsed)
    fields = parsed.fields
    prescriber, patient, matched = (rx.prescriber, rx.patient, "prescription") if rx else (None, None, "")
    if prescriber is None:
        prescriber = selectors.prescriber_for_inbound(
            spi=parsed.to_id if parsed.to_qualifier == ncpdp.QUALIFIER_PRESCRIBER else "",
            npi=fields.get("prescriber_npi", ""),
        )
        if prescriber is not None:
            matched = "prescriber"
            patient = selectors.patient_match_for_prescriber(
                prescriber=prescriber,
                last_name=fields.get("patient_last_name", ""),
                first_name=fields.get("patient_first_name", ""),
                birth_date=fields.get("patient_birth_date", ""),
            )
    if prescriber is None:
        reason = "cannot identify the prescriber or the prescription"
        raise InboundRejected(
            400, reason, error_reply(reason, desc=ncpdp.DESC_CANNOT_IDENTIFY, parsed=parsed)
        )
    kind = INBOX_KINDS[parsed.message_type]
    summary = {
        InboxKind.RENEWAL: f"Renewal request: {fields.get('drug_description', '')} ({fields.get('refills', '0')} "
        "refills asked)",
        InboxKind.CHANGE: f"Change request ({ncpdp.CHANGE_REQUEST_CODES.get(fields.get('request_code', ''), '?')}):"
        f" {len(fields.get('requested') or [])} option(s) for {fields.get('prescribed', {}).get('drug_description', '')}",
        InboxKind.CANCEL_RESPONSE: f"Cancel {fields.get('outcome', '')}: {fields.get('drug_description', '')}",
    }[kind]
    with transaction.atomic():
        item, created = InboxItem.objects.get_or_create(
            message_id=parsed.message_id,
            defaults=dict(
                kind=kind,
                pharmacy=pharmacy,
                prescriber=prescriber,
                patient=patient,
                prescription=rx,
                payload=body,
                summary=summary[:500],
                fields={k: v for k, v in fields.items() if isinstance(v, str | int | bool | list | dict)},
                status=InboxStatus.CLOSED if kind == InboxKind.CANCEL_RESPONSE else InboxStatus.OPEN,
            ),
        )
        if not created:
            return status
        if rx is not None and kind == InboxKind.CANCEL_RESPONSE:
            _cancel_response_apply(rx=Prescription.objects.select_for_update().get(pk=rx.pk), fields=fields)
        elif rx is not None:
            _timeline(rx, f"{parsed.message_type} from {pharmacy.name}: in the prescriber's inbox")
        # The system (not a user) received patient data: one event naming the patient when we know them.
        access_record(
            actor=None,
            action=Action.CREATE,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk if patient else None,
            channel="ncpdp",
            detail={
                "inbound": parsed.message_type,
                "inbox_item": str(item.pk),
                "pharmacy": pharmacy.ncpdp_id,
                "matched_by": matched,
            },
        )
    return status


def _inbound_prescription(*, pharmacy: Pharmacy, parsed: ncpdp.ParsedMessage) -> Prescription | None:
    """The prescription a pharmacy's request is about: by RelatesToMessageID (our message) or by
    PrescriberOrderNumber, and only if it was sent to THIS pharmacy; anything else is refused and recorded."""
    candidate, sent_to = None, None
    if parsed.relates_to_message_id:
        out = selectors.outbound_by_message_id(message_id=parsed.relates_to_message_id)
        if out is not None and out.prescription_id:
            candidate = out.prescription
            sent_to = out.pharmacy_id or candidate.pharmacy_id
    if candidate is None and parsed.prescriber_order_number:
        candidate = selectors.prescription_by_order_number(order_number=parsed.prescriber_order_number)
        sent_to = candidate.pharmacy_id if candidate else None
    if candidate is not None and sent_to != pharmacy.pk:
        raise _refuse(
            pharmacy=pharmacy,
            parsed=parsed,
            patient_id=candidate.patient_id,
            why="the prescription was sent to another pharmacy",
        )
    return candidate


def _cancel_response_apply(*, rx: Prescription, fields: dict) -> None:
    """CancelRxResponse (§4): cancelled only on Approved; a denial puts the prescription back as it was."""
    approved = fields.get("outcome") == ncpdp.OUTCOME_APPROVED
    waiting = rx.status == RxStatus.CANCEL_REQUESTED or (
        rx.status == RxStatus.NEEDS_ATTENTION and rx.status_before_cancel
    )
    if not waiting:
        _timeline(rx, f"CancelRxResponse {fields.get('outcome', '')} arrived, but no cancel was pending")
        return
    if approved:
        _cancel_locally(rx, "pharmacy approved the cancel")
        return
    codes = ", ".join(
        f"{c} {ncpdp.CANCEL_DENIAL_CODES.get(c, '')}".strip() for c in fields.get("reason_codes") or []
    )
    reason = "; ".join(p for p in (codes, fields.get("denial_reason", "")) if p) or "no reason given"
    prior = rx.status_before_cancel or RxStatus.DELIVERED
    rx.status_before_cancel = ""
    rx.save(update_fields=["status_before_cancel"])
    _event(rx, prior, f"pharmacy denied the cancel ({reason}); the prescription stands")
    if prior == RxStatus.NEEDS_ATTENTION:
        rx.status_reason = f"pharmacy denied the cancel ({reason})"[:500]
        rx.save(update_fields=["status_reason"])


def _inbound_answer(*, pharmacy: Pharmacy, parsed: ncpdp.ParsedMessage) -> bytes:
    """An asynchronous Status, Verify or Error (§3, §6), matched on RelatesToMessageID to a message we sent to
    this pharmacy, applied once per MessageID; answered with a Status."""
    if not parsed.relates_to_message_id:
        reason = f"{parsed.message_type} needs RelatesToMessageID"
        raise InboundRejected(
            400, reason, error_reply(reason, desc=ncpdp.DESC_CANNOT_IDENTIFY, parsed=parsed)
        )
    reply = ncpdp.build_status(ncpdp.STATUS_DELIVERED, header=ncpdp.reply_header(parsed, software=SOFTWARE))
    if selectors.inbound_answer_exists(message_id=parsed.message_id):
        return reply
    out = selectors.outbound_by_message_id(message_id=parsed.relates_to_message_id)
    if out is None:
        reason = "RelatesToMessageID matches no message we sent"
        raise InboundRejected(
            400, reason, error_reply(reason, desc=ncpdp.DESC_CANNOT_IDENTIFY, parsed=parsed)
        )
    if (out.pharmacy_id or (out.prescription.pharmacy_id if out.prescription_id else None)) != pharmacy.pk:
        raise _refuse(
            pharmacy=pharmacy,
            parsed=parsed,
            patient_id=out.patient_id,
            why="the message was sent to another pharmacy",
        )
    with transaction.atomic():
        msg = _lock_message(out.pk)
        _, created = InboundAnswer.objects.get_or_create(
            message_id=parsed.message_id,
            defaults=dict(
                message_type=parsed.message_type,
                pharmacy=pharmacy,
                outbound=msg,
                patient_id=msg.patient_id,
                code=parsed.fields.get("code", "")[:10],
                description=parsed.fields.get("description", "")[:500],
            ),
        )
        if not created:
            return reply
        positive = parsed.message_type == ncpdp.VERIFY or parsed.fields.get("code") == ncpdp.STATUS_DELIVERED
        if msg.status in (OutboundStatus.SENT, OutboundStatus.PENDING, OutboundStatus.SENDING) or (
            positive and msg.status == OutboundStatus.NEEDS_ATTENTION
        ):
            _answer(msg, parsed, asynchronous=True)
            if msg.status == OutboundStatus.PENDING:
                _enqueue(msg.pk)  # a transient Error: send the same MessageID again
        elif msg.prescription is not None:
            _timeline(
                msg.prescription,
                f"late {parsed.message_type} {parsed.fields.get('code', '')} for {msg.message_type} "
                f"({msg.get_status_display().lower()}): no change",
            )
        access_record(
            actor=None,
            action=Action.UPDATE,
            category=categories.PRESCRIPTION,
            patient_id=msg.patient_id,
            channel="ncpdp",
            detail={
                "inbound": parsed.message_type,
                "code": parsed.fields.get("code", ""),
                "relates_to": msg.message_id,
            },
        )
    return reply


# ------------------------------------------------------------------ the prescriber's answers
def _strictest(*schedules: str) -> str:
    """The DEA schedule with the tightest refill limit (the catalog's and the one the pharmacy sent)."""
    known = [s for s in schedules if s]
    return min(known, key=refill_limit) if known else ""


def _option_values(original: Prescription, option: dict) -> dict:
    """Quantity, unit, days' supply and directions of a requested drug; the original's where the pharmacy's value
    is missing or unusable."""
    values = {
        "quantity": original.quantity,
        "quantity_unit": original.quantity_unit,
        "days_supply": original.days_supply,
        "sig_text": original.sig_text,
    }
    try:
        quantity = Decimal(str(option.get("quantity") or ""))
        if quantity > 0:
            values["quantity"] = quantity
    except InvalidOperation:
        pass
    if option.get("quantity_unit") in ncpdp.QUANTITY_UNITS:
        values["quantity_unit"] = option["quantity_unit"]
    days = str(option.get("days_supply") or "")
    if days.isdigit() and 0 < int(days) <= 999:
        values["days_supply"] = int(days)
    if option.get("sig_text"):
        values["sig_text"] = str(option["sig_text"])[:1000]
    return values


def _successor(
    original: Prescription,
    *,
    actor,
    medication: Medication,
    schedule: str,
    refills: int,
    pharmacy,
    overrides: list[dict],
    values: dict,
) -> Prescription:
    """The new prescription an approved renewal or change creates, linked to the one it renews or replaces."""
    new = Prescription(
        patient=original.patient,
        prescriber=actor,
        medication=medication,
        dea_schedule=schedule,
        dose=original.dose,
        dose_unit=original.dose_unit,
        route=original.route,
        frequency=original.frequency,
        duration_days=original.duration_days,
        as_needed=original.as_needed,
        as_needed_reason=original.as_needed_reason,
        sig_text=values["sig_text"],
        quantity=values["quantity"],
        quantity_unit=values["quantity_unit"],
        days_supply=values["days_supply"],
        refills=refills,
        substitution_allowed=original.substitution_allowed,
        diagnosis=original.diagnosis,
        diagnosis_description=original.diagnosis_description,
        pharmacy=pharmacy,
        status=RxStatus.SIGNED,
        override_reasons=overrides,
        replaces=original,
        signed_at=timezone.now(),
    )
    new.prescriber_order_number = new.id.hex
    new.full_clean()
    return new


def inbox_respond(
    *,
    actor,
    item_id,
    approve: bool,
    reason_code: str = "",
    note: str = "",
    option: int | None = None,
    refills: int | None = None,
    password: str = "",
    totp_code: str = "",
    override_reasons: dict[str, str] | None = None,
    request=None,
) -> InboxItem:
    """Approve or deny a renewal / change request; the response goes out through the outbox.

    Caller: the prescriber the request is addressed to, still holding PRESCRIBE on the patient. Approving is
    signing a new prescription: the signing rules apply (re-authentication, alerts with override reasons, TOTP and
    a valid DEA registration for schedules II-V), refills keep the federal limits, and a new prescription linked
    to the original is created. A change approval carries the drug the prescriber picked among the requested ones.
    A pharmacy that does not take the response electronically gets the print/fax path.
    """
    item = selectors.inbox_item_get(actor=actor, item_id=item_id, request=request, record=False)
    if item.status != InboxStatus.OPEN or item.kind == InboxKind.CANCEL_RESPONSE:
        raise ValidationError("This request is already answered.")
    if item.prescription_id is None:
        raise ValidationError("This request matches no prescription here; answer the pharmacy by phone.")
    rx = selectors.prescription_get(
        actor=actor, prescription_id=item.prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    if (
        rx.pharmacy_id != item.pharmacy_id
    ):  # matched at receipt already; checked again before sending anything
        raise PermissionDenied("This prescription was not sent to the pharmacy asking.")
    parsed = ncpdp.parse_message(bytes(item.payload))
    renewal = item.kind == InboxKind.RENEWAL
    mtype = ncpdp.RX_RENEWAL_RESPONSE if renewal else ncpdp.RX_CHANGE_RESPONSE
    new = None
    outcome_note = note
    if not approve:
        allowed = ncpdp.RENEWAL_DENIAL_CODES if renewal else ncpdp.CHANGE_DENIAL_CODES
        if reason_code not in allowed:
            raise ValidationError({"reason_code": "Pick a denial reason."})
        outcome = ncpdp.OUTCOME_DENIED
        medication_data = _medication_data(rx)
    else:
        if renewal:
            medication = rx.medication
            asked_text = str(parsed.fields.get("refills") or "0")
            asked = int(asked_text) if asked_text.isdigit() else 0
            values = _option_values(rx, {})
        else:
            options = parsed.fields.get("requested") or []
            if option is None or not 0 <= option < len(options):
                raise ValidationError({"option": "Pick one of the drugs the pharmacy asked for."})
            chosen = options[option]
            medication = selectors.medication_by_rxcui(rxcui=chosen.get("rxnorm_code", ""))
            if medication is None:
                raise ValidationError(
                    {"option": "That drug is not in the catalog here: deny, or answer the pharmacy by phone."}
                )
            asked_text = str(chosen.get("refills") or "0")
            asked = int(asked_text) if asked_text.isdigit() else 0
            values = _option_values(rx, chosen)
        pharmacy_schedule = SCHEDULES_BY_CODE.get(
            (parsed.fields if renewal else chosen).get("dea_schedule", ""), ""
        )
        schedule = _strictest(medication.dea_schedule, pharmacy_schedule)
        if refills is not None:
            problem = refills_problem(refills=refills, schedule=schedule)
            if problem:
                raise ValidationError({"refills": problem})
            final = refills
        else:
            final = min(asked, refill_limit(schedule))
        if final != asked and refills is None:
            outcome_note = (
                f"Refills reduced from {asked} to {final}: Schedule {schedule} limit. {note}".strip()
            )
        overrides = _authorize_signature(
            actor=actor,
            patient=rx.patient,
            medication=medication,
            schedule=schedule,
            password=password,
            totp_code=totp_code,
            override_reasons=override_reasons,
            request=request,
        )
        new = _successor(
            rx,
            actor=actor,
            medication=medication,
            schedule=schedule,
            refills=final,
            pharmacy=item.pharmacy,
            overrides=overrides,
            values=values,
        )
        outcome = ncpdp.OUTCOME_APPROVED if final == asked else ncpdp.OUTCOME_APPROVED_WITH_CHANGES
        medication_data = _medication_data(new)
    message_id = ncpdp.new_message_id()
    header = replace(
        ncpdp.reply_header(parsed, message_id=message_id, software=SOFTWARE),
        from_id=spi_for(actor),
        from_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
        prescriber_order_number=(new or rx).prescriber_order_number,
    )
    common = dict(
        header=header,
        outcome=outcome,
        patient=_patient_data(rx.patient),
        pharmacy=_pharmacy_data(item.pharmacy),
        prescriber=_prescriber_data(actor),
        medication=medication_data,
        reason_codes=() if approve else (reason_code,),
        denial_reason="" if approve else note,
        note=outcome_note if approve else "",
    )
    if renewal:
        xml = ncpdp.build_rx_renewal_response(ncpdp.RxRenewalResponseData(**common))
    else:
        xml = ncpdp.build_rx_change_response(
            ncpdp.RxChangeResponseData(
                **common,
                request_code=parsed.fields.get("request_code") or "S",
                request_subcodes=tuple(parsed.fields.get("request_subcodes") or ()),
            )
        )
    electronic = item.pharmacy.accepts_message(mtype)
    with transaction.atomic():
        locked = InboxItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != InboxStatus.OPEN:
            raise ValidationError("This request is already answered.")
        item.status = InboxStatus.APPROVED if approve else InboxStatus.DENIED
        item.resolved_at = timezone.now()
        item.save(update_fields=["status", "resolved_at"])
        carrier = rx
        if new is not None:
            new.save(force_insert=True)
            carrier = new
            verb = "renewal" if renewal else "change"
            _timeline(
                new,
                f"{verb} of {rx.prescriber_order_number} approved; signed with re-authentication"
                + (" + TOTP" if new.dea_schedule else ""),
            )
            _event(
                rx,
                RxStatus.RENEWED if renewal else RxStatus.REPLACED,
                f"{verb} approved: new prescription {new.prescriber_order_number} "
                f"({new.medication.name}, {new.refills} refills)",
            )
            _medication_record(new, actor)
        else:
            _timeline(rx, f"{item.get_kind_display()} denied ({reason_code}{': ' + note if note else ''})")
        if electronic:
            _outbox(
                rx=carrier,
                message_type=mtype,
                message_id=message_id,
                xml=xml,
                pharmacy=item.pharmacy,
                inbox_item=item,
            )
            if new is not None:
                _event(new, RxStatus.QUEUED, f"{mtype} {message_id} to {item.pharmacy.name}")
        else:
            _timeline(
                carrier,
                f"{_not_accepted(item.pharmacy, mtype)}: "
                + ("print or fax the new prescription" if new is not None else "phone or fax the denial"),
            )
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={
                "inbox": str(item.pk),
                "approved": approve,
                "new_prescription": str(new.pk) if new else None,
                "overrides": new.override_reasons if new else [],
            },
        )
    return item
