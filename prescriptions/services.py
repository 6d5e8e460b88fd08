"""Every write of e-prescribing: write, sign, cancel, transmit (the outbox), receive (the inbox), respond.

Services check access through patient_get with the write permission before their transaction, validate, write
atomically, record the audit event, and queue Celery work with transaction.on_commit.

Delivery guarantee (exactly-once effect at the pharmacy):
- the NewRx XML, with its MessageID, is built once at signing and stored in the same transaction as the
  prescription's status change (transactional outbox); every retry re-sends those exact bytes;
- ``outbound_send`` holds a row lock (SELECT ... FOR UPDATE SKIP LOCKED) for the whole HTTP exchange, so two
  workers never send one message at the same time, and an acknowledged message is never sent again;
- a worker killed mid-send rolls its transaction back (PostgreSQL drops the lock with the connection); the task
  is redelivered (acks_late + reject_on_worker_lost) or re-queued by ``requeue_stuck`` and re-sends the SAME
  MessageID, which the pharmacy de-duplicates (reference §6). That re-delivery is the only kind of duplicate
  the pharmacy can see, and it never becomes a second prescription.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.selectors import patient_get

from . import ncpdp, selectors, signing
from .models import (
    DEA_SCHEDULE_CODES,
    DoseUnit,
    Frequency,
    InboxItem,
    InboxKind,
    InboxStatus,
    OutboundMessage,
    OutboundStatus,
    PatientPharmacy,
    Pharmacy,
    Prescription,
    PrescriptionEvent,
    Route,
    RxStatus,
)

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = getattr(settings, "RX_MAX_ATTEMPTS", 10)
STUCK_AFTER_SECONDS = getattr(settings, "RX_STUCK_AFTER_SECONDS", 120)
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


# ------------------------------------------------------------------ events
def _event(rx: Prescription, status: str, detail: str = "") -> None:
    rx.status = status
    rx.status_reason = (
        detail[:500] if status in (RxStatus.NEEDS_ATTENTION, RxStatus.ERROR) else rx.status_reason
    )
    rx.save(update_fields=["status", "status_reason"])
    PrescriptionEvent.objects.create(prescription=rx, status=status, detail=detail[:500])


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


def prescription_create(*, actor, patient_id, data: dict, request=None) -> Prescription:
    """A draft prescription. Caller: a prescriber holding PRESCRIBE on the patient.

    Checks the drug exists in the catalog, quantity > 0, refills 0-99 (0 for Schedule II), the NCPDP unit.
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
    if not 0 <= refills <= ncpdp.MAX_REFILLS:
        errors["refills"] = f"Refills must be 0-{ncpdp.MAX_REFILLS}."
    elif medication.dea_schedule == "II" and refills:
        errors["refills"] = "Schedule II prescriptions cannot have refills (21 CFR 1306.12)."
    if data.get("quantity_unit") not in ncpdp.QUANTITY_UNITS:
        errors["quantity_unit"] = "Pick a dispensing unit."
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
        diagnosis=data.get("diagnosis") or "",
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
        PrescriptionEvent.objects.create(prescription=rx, status=RxStatus.DRAFT, detail="written")
        access_record(
            actor=actor,
            action=Action.CREATE,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"prescription": str(rx.pk)},
        )
    return rx


def pharmacy_set_preferred(*, actor, patient_id, pharmacy: Pharmacy, request=None) -> None:
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.MEDICATIONS,
        request=request,
        record=False,
    )
    with transaction.atomic():
        PatientPharmacy.objects.update_or_create(patient=patient, defaults={"pharmacy": pharmacy})
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.MEDICATIONS,
            patient_id=patient.pk,
            request=request,
            detail={"preferred_pharmacy": pharmacy.ncpdp_id},
        )


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
        note=rx.note_to_pharmacist,
    )


def _new_rx_data(rx: Prescription, message_id: str) -> ncpdp.NewRxData:
    header = ncpdp.MessageHeader(
        to_id=rx.pharmacy.ncpdp_id,
        from_id=rx.prescriber.practitioner.npi,
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
    *, rx: Prescription | None, message_type: str, message_id: str, xml: bytes, endpoint: str, inbox_item=None
) -> OutboundMessage:
    msg = OutboundMessage.objects.create(
        prescription=rx,
        inbox_item=inbox_item,
        message_type=message_type,
        message_id=message_id,
        payload=xml,
        endpoint=endpoint,
        next_attempt_at=timezone.now(),
    )
    _enqueue(msg.pk)
    return msg


# ------------------------------------------------------------------ signing
def prescription_sign(
    *,
    actor,
    prescription_id,
    password: str,
    totp_code: str = "",
    override_reasons: dict[str, str] | None = None,
    request=None,
) -> Prescription:
    """Sign a draft: re-authentication (password; plus TOTP and a valid DEA number for schedules II-V), alerts
    (every high-severity alert needs an override reason, recorded and audited), then queue the NewRx (electronic
    pharmacy) or leave it signed for printing. Caller: the prescriber who wrote it.
    """
    rx = selectors.prescription_get(
        actor=actor, prescription_id=prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    if rx.prescriber_id != actor.pk:
        raise PermissionDenied("Only the prescriber who wrote it can sign this prescription.")
    if rx.status != RxStatus.DRAFT:
        raise ValidationError("This prescription is already signed.")
    # Through the normal backends, so axes counts a wrong password towards the account lockout.
    if authenticate(request or HttpRequest(), username=actor.get_username(), password=password or "") is None:
        raise ValidationError({"password": "Password incorrect: signing needs your password again."})
    practitioner = getattr(actor, "practitioner", None)
    if practitioner is None:
        raise ValidationError("Only a practitioner with an NPI can sign prescriptions.")
    if rx.dea_schedule:
        # DEA EPCS (21 CFR 1311.120): two factors at signing and a valid registration.
        if not practitioner.can_prescribe_controlled(timezone.localdate()):
            raise ValidationError("A valid, unexpired DEA registration is needed for controlled substances.")
        from django_otp.plugins.otp_totp.models import TOTPDevice

        devices = list(TOTPDevice.objects.filter(user=actor, confirmed=True))
        if not totp_code or not any(d.verify_token(totp_code.strip()) for d in devices):
            raise ValidationError({"totp_code": "Enter the current code from your authenticator app."})
    alerts = selectors.prescription_check(patient=rx.patient, medication=rx.medication)
    reasons = {k: v.strip() for k, v in (override_reasons or {}).items() if v and v.strip()}
    high = [a for a in alerts if a.severity == "high"]
    missing = [a for a in high if a.key not in reasons]
    if missing:
        raise AlertsNeedOverride(alerts)
    overrides = [{"source": a.source, "message": a.message, "reason": reasons[a.key]} for a in high]
    pharmacy = rx.pharmacy
    electronic = bool(pharmacy and pharmacy.is_electronic and pharmacy.endpoint)
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
            _outbox(
                rx=rx, message_type=ncpdp.NEW_RX, message_id=message_id, xml=xml, endpoint=pharmacy.endpoint
            )
            _event(rx, RxStatus.QUEUED, f"NewRx {message_id} to {pharmacy.name}")
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


def prescription_cancel(*, actor, prescription_id, request=None) -> Prescription:
    """Ask the pharmacy to cancel (CancelRx, related to the NewRx). Cancelled once the pharmacy approves."""
    rx = selectors.prescription_get(
        actor=actor, prescription_id=prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    with transaction.atomic():
        rx_locked = Prescription.objects.select_for_update().get(pk=rx.pk)
        if rx_locked.status == RxStatus.DRAFT or not rx.pharmacy or not rx.pharmacy.is_electronic:
            _event(
                rx,
                RxStatus.CANCELLED,
                "cancelled before transmission"
                if rx_locked.status == RxStatus.DRAFT
                else "cancelled (not electronic: call the pharmacy)",
            )
        elif rx_locked.status in (RxStatus.SENT, RxStatus.DELIVERED, RxStatus.QUEUED):
            original = rx.outbound.filter(message_type=ncpdp.NEW_RX).first()
            message_id = ncpdp.new_message_id()
            xml = ncpdp.build_cancel_rx(
                _new_rx_data(rx, original.message_id),
                message_id=message_id,
                relates_to_message_id=original.message_id,
            )
            _outbox(
                rx=rx,
                message_type=ncpdp.CANCEL_RX,
                message_id=message_id,
                xml=xml,
                endpoint=rx.pharmacy.endpoint,
            )
            _event(rx, RxStatus.CANCEL_REQUESTED, f"CancelRx {message_id}")
        else:
            raise ValidationError(
                f"A prescription that is {rx.get_status_display().lower()} cannot be cancelled."
            )
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={"prescription": str(rx.pk), "cancel": True},
        )
    return rx


# ------------------------------------------------------------------ the outbox
def outbound_send(message_id) -> str:
    """Send one outbox row and process the pharmacy's answer. Called by the transmit_message task.

    Returns what happened: "acknowledged", "rejected" (needs attention), "busy" (another worker holds it),
    "skipped" (already final) or "retry" (transient: connection error, timeout, HTTP 5xx, NCPDP 600/602). The row lock is held across the HTTP exchange (see the module docstring).
    """
    with transaction.atomic():
        msg = (
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=message_id)
            .select_related("prescription")
            .first()
        )
        if msg is None:
            return "busy"  # another worker holds it right now (or it does not exist)
        if msg.status not in (OutboundStatus.PENDING, OutboundStatus.SENDING, OutboundStatus.FAILED):
            return "skipped"  # already acknowledged / rejected / waiting for a human: never re-send
        msg.attempts += 1
        try:
            resp = requests.post(
                msg.endpoint,
                data=bytes(msg.payload),
                timeout=SEND_TIMEOUT_SECONDS,
                headers={"Content-Type": "application/xml"},
            )
        except requests.RequestException as exc:
            return _transient(msg, f"{type(exc).__name__}: {exc}"[:500])
        if resp.status_code >= 500:
            return _transient(msg, f"HTTP {resp.status_code}")
        try:
            answer = ncpdp.parse_message(resp.content)
        except ncpdp.NcpdpError as exc:
            return _permanent(msg, f"HTTP {resp.status_code}, unreadable answer: {exc.reason}")
        if answer.message_type == ncpdp.ERROR:
            code = answer.fields.get("code", "")
            text = f"Error {code} {answer.fields.get('description', '')}".strip()
            if ncpdp.is_transient_error(code):
                return _transient(msg, text)
            return _permanent(msg, text)
        if answer.message_type in (ncpdp.STATUS, ncpdp.VERIFY):
            code = answer.fields.get("code", "")
            final = code == ncpdp.STATUS_DELIVERED or answer.message_type == ncpdp.VERIFY
            msg.status = OutboundStatus.ACKNOWLEDGED if final else OutboundStatus.SENT
            msg.last_error = ""
            msg.save(update_fields=["status", "attempts", "last_error", "updated_at"])
            _after_ack(msg, final, f"{answer.message_type} {code}")
            return "acknowledged"
        return _permanent(msg, f"unexpected answer {answer.message_type}")


def _transient(msg: OutboundMessage, reason: str) -> str:
    msg.last_error = reason
    if msg.attempts >= MAX_ATTEMPTS:
        return _permanent(msg, f"gave up after {msg.attempts} attempts: {reason}")
    msg.status = OutboundStatus.PENDING
    msg.next_attempt_at = timezone.now() + timedelta(seconds=min(2**msg.attempts, 60))
    msg.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "updated_at"])
    # Signalled by the return value, not an exception: raising inside the atomic block would roll the
    # bookkeeping back. The task turns "retry" into a Celery retry with backoff.
    return "retry"


def _permanent(msg: OutboundMessage, reason: str) -> str:
    msg.status = OutboundStatus.NEEDS_ATTENTION
    msg.last_error = reason[:500]
    msg.save(update_fields=["status", "attempts", "last_error", "updated_at"])
    rx = msg.prescription
    if rx is not None:
        _event(rx, RxStatus.NEEDS_ATTENTION, f"{msg.message_type}: {reason}")
    return "rejected"


def _after_ack(msg: OutboundMessage, final: bool, detail: str) -> None:
    rx = msg.prescription
    if rx is None:
        return
    if msg.message_type == ncpdp.NEW_RX:
        _event(rx, RxStatus.DELIVERED if final else RxStatus.SENT, detail)
    else:
        PrescriptionEvent.objects.create(
            prescription=rx, status=rx.status, detail=f"{msg.message_type} accepted: {detail}"
        )


def outbound_give_up(message_id, reason: str) -> None:
    """The task ran out of retries: a human takes over."""
    with transaction.atomic():
        msg = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("prescription")
            .filter(pk=message_id)
            .first()
        )
        if msg and msg.status in (OutboundStatus.PENDING, OutboundStatus.SENDING, OutboundStatus.FAILED):
            _permanent(msg, reason)


def outbound_requeue_stuck(*, older_than_seconds: int | None = None) -> list[str]:
    """Re-queue messages pending/sending for too long (lost task, broker restart). Safe to over-queue:
    outbound_send's row lock and status guard make an extra task a no-op."""
    from .tasks import transmit_message

    cutoff = timezone.now() - timedelta(
        seconds=STUCK_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    )
    ids = [
        str(pk)
        for pk in OutboundMessage.objects.filter(
            status__in=(OutboundStatus.PENDING, OutboundStatus.SENDING),
            updated_at__lt=cutoff,
            next_attempt_at__lt=timezone.now(),
        ).values_list("pk", flat=True)[:500]
    ]
    queued = []
    for pk in ids:
        try:
            transmit_message.delay(pk)
            queued.append(pk)
        except Exception:
            logger.warning("broker unreachable; %s stays pending", pk)
            break
    if queued:
        OutboundMessage.objects.filter(pk__in=queued).update(updated_at=timezone.now())
    return queued


def outbound_retry(*, actor, message_id, request=None) -> OutboundMessage:
    """Staff: send a needs-attention message again (same MessageID: the pharmacy de-duplicates)."""
    if not actor.is_staff:
        raise PermissionDenied
    with transaction.atomic():
        msg = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("prescription")
            .get(pk=message_id)
        )
        if msg.status != OutboundStatus.NEEDS_ATTENTION:
            raise ValidationError("Only messages that need attention can be retried.")
        msg.status, msg.attempts, msg.next_attempt_at = OutboundStatus.PENDING, 0, timezone.now()
        msg.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
        if msg.prescription:
            _event(msg.prescription, RxStatus.QUEUED, f"retried by {actor.get_username()}")
            access_record(
                actor=actor,
                action=Action.TRANSMIT,
                category=categories.PRESCRIPTION,
                patient_id=msg.prescription.patient_id,
                request=request,
                detail={"retry": msg.message_id},
            )
        _enqueue(msg.pk)
    return msg


def outbound_resolve(*, actor, message_id, note: str = "", request=None) -> OutboundMessage:
    """Staff: close a needs-attention message by hand (e.g. phoned in). The prescription becomes an error."""
    if not actor.is_staff:
        raise PermissionDenied
    with transaction.atomic():
        msg = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("prescription")
            .get(pk=message_id)
        )
        if msg.status != OutboundStatus.NEEDS_ATTENTION:
            raise ValidationError("Only messages that need attention can be resolved.")
        msg.status = OutboundStatus.FAILED
        msg.last_error = f"resolved by {actor.get_username()}: {note}"[:500]
        msg.save(update_fields=["status", "last_error", "updated_at"])
        if msg.prescription:
            _event(msg.prescription, RxStatus.ERROR, f"resolved by hand: {note}")
            access_record(
                actor=actor,
                action=Action.UPDATE,
                category=categories.PRESCRIPTION,
                patient_id=msg.prescription.patient_id,
                request=request,
                detail={"resolved": msg.message_id},
            )
    return msg


# ------------------------------------------------------------------ inbound
NONCE_PREFIX = "rx-inbound-nonce:"


class InboundRejected(Exception):
    def __init__(self, http_status: int, reason: str, body: bytes = b""):
        super().__init__(reason)
        self.http_status, self.reason, self.body = http_status, reason, body


def _error_reply(reason: str, code=ncpdp.ERROR_REJECTED, desc=ncpdp.DESC_XML_SYNTAX, parsed=None) -> bytes:
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


def inbound_receive(*, headers, body: bytes) -> bytes:
    """Authenticate and store a pharmacy's message; returns the Status to answer with.

    Raises InboundRejected(401) for bad authentication, (409) for a replayed nonce, (400) with an NCPDP Error body
    for a malformed or unidentifiable message. Nothing is stored unless everything checks out; a re-delivered
    MessageID (reference §6: networks retry) gets the same Status and is stored once.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    pharmacy = selectors.pharmacy_by_ncpdp(ncpdp_id=lowered.get(signing.HEADER_PHARMACY_ID.lower(), "")[:7])
    if pharmacy is None or not pharmacy.inbound_secret:
        raise InboundRejected(401, "unknown sender")
    try:
        signing.verify_signature(pharmacy.inbound_secret, headers, body)
    except signing.SignatureError as exc:
        raise InboundRejected(401, exc.reason) from None
    nonce = lowered[signing.HEADER_NONCE.lower()].strip()
    if not cache.add(f"{NONCE_PREFIX}{pharmacy.ncpdp_id}:{nonce}", 1, 2 * signing.DEFAULT_MAX_SKEW + 60):
        raise InboundRejected(409, "replayed request (nonce already used)")
    try:
        parsed = ncpdp.parse_message(body)
    except ncpdp.NcpdpError as exc:
        raise InboundRejected(400, exc.reason, _error_reply(exc.reason)) from None
    kinds = {
        ncpdp.RX_RENEWAL_REQUEST: InboxKind.RENEWAL,
        ncpdp.RX_CHANGE_REQUEST: InboxKind.CHANGE,
        ncpdp.CANCEL_RX_RESPONSE: InboxKind.CANCEL_RESPONSE,
    }
    if parsed.message_type not in kinds:
        reason = f"the EHR does not accept {parsed.message_type} here"
        raise InboundRejected(400, reason, _error_reply(reason, desc=ncpdp.DESC_NOT_SUPPORTED, parsed=parsed))
    status = ncpdp.build_status(ncpdp.STATUS_DELIVERED, header=ncpdp.reply_header(parsed, software=SOFTWARE))
    if InboxItem.objects.filter(message_id=parsed.message_id).exists():
        return status
    rx = None
    if parsed.prescriber_order_number:
        rx = Prescription.objects.filter(prescriber_order_number=parsed.prescriber_order_number).first()
    if rx is None and parsed.relates_to_message_id:
        out = (
            OutboundMessage.objects.filter(message_id=parsed.relates_to_message_id)
            .select_related("prescription")
            .first()
        )
        rx = out.prescription if out else None
    prescriber = rx.prescriber if rx else None
    if prescriber is None:
        from accounts.models import Practitioner

        npi = parsed.fields.get("prescriber_npi") or (parsed.to_id if parsed.to_qualifier == "D" else "")
        practitioner = Practitioner.objects.filter(npi=npi).select_related("user").first() if npi else None
        prescriber = practitioner.user if practitioner else None
    if prescriber is None:
        reason = "cannot identify the prescriber or the prescription"
        raise InboundRejected(
            400, reason, _error_reply(reason, desc=ncpdp.DESC_CANNOT_IDENTIFY, parsed=parsed)
        )
    fields = parsed.fields
    summary = {
        InboxKind.RENEWAL: f"Renewal request: {fields.get('drug_description', '')} ({fields.get('refills', '0')} "
        "refills asked)",
        InboxKind.CHANGE: f"Change request ({ncpdp.CHANGE_REQUEST_CODES.get(fields.get('request_code', ''), '?')}):"
        f" {fields.get('drug_description', '')}",
        InboxKind.CANCEL_RESPONSE: f"Cancel {fields.get('outcome', '')}: {fields.get('drug_description', '')}",
    }[kinds[parsed.message_type]]
    with transaction.atomic():
        _, created = InboxItem.objects.get_or_create(
            message_id=parsed.message_id,
            defaults=dict(
                kind=kinds[parsed.message_type],
                pharmacy=pharmacy,
                prescriber=prescriber,
                patient=rx.patient if rx else None,
                prescription=rx,
                payload=body,
                summary=summary[:500],
                fields={k: v for k, v in fields.items() if isinstance(v, str | int | bool | list | dict)},
                status=InboxStatus.CLOSED
                if parsed.message_type == ncpdp.CANCEL_RX_RESPONSE
                else InboxStatus.OPEN,
            ),
        )
        if created and rx is not None and parsed.message_type == ncpdp.CANCEL_RX_RESPONSE:
            approved = fields.get("outcome") == ncpdp.OUTCOME_APPROVED
            _event(
                rx,
                RxStatus.CANCELLED if approved else rx.status,
                "pharmacy approved the cancel"
                if approved
                else f"pharmacy denied the cancel: {fields.get('denial_reason', '')}",
            )
        if created and rx is not None:
            access_record(
                actor=prescriber,
                action=Action.CREATE,
                category=categories.PRESCRIPTION,
                patient_id=rx.patient_id,
                channel="ncpdp",
                detail={"inbound": parsed.message_type},
            )
    return status


def inbox_respond(
    *, actor, item_id, approve: bool, reason_code: str = "", note: str = "", request=None
) -> InboxItem:
    """Approve or deny a renewal / change request; the response goes out through the same outbox."""
    item = selectors.inbox_item_get(actor=actor, item_id=item_id)
    if item.status != InboxStatus.OPEN or item.kind == InboxKind.CANCEL_RESPONSE:
        raise ValidationError("This request is already answered.")
    if item.prescription is None:
        raise ValidationError("This request matches no prescription here; answer the pharmacy by phone.")
    rx = selectors.prescription_get(
        actor=actor, prescription_id=item.prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    parsed = ncpdp.parse_message(bytes(item.payload))
    if not approve:
        allowed = ncpdp.RENEWAL_DENIAL_CODES if item.kind == InboxKind.RENEWAL else ncpdp.CHANGE_DENIAL_CODES
        if reason_code not in allowed:
            raise ValidationError({"reason_code": "Pick a denial reason."})
    message_id = ncpdp.new_message_id()
    header = ncpdp.reply_header(parsed, message_id=message_id, software=SOFTWARE)
    medication = _medication_data(rx)
    refills = parsed.fields.get("refills") or "0"
    if item.kind == InboxKind.RENEWAL and refills.isdigit():
        from dataclasses import replace

        medication = replace(medication, refills=int(refills))
    common = dict(
        header=header,
        outcome=ncpdp.OUTCOME_APPROVED if approve else ncpdp.OUTCOME_DENIED,
        patient=_patient_data(rx.patient),
        pharmacy=_pharmacy_data(item.pharmacy),
        prescriber=_prescriber_data(rx.prescriber),
        medication=medication,
        reason_codes=() if approve else (reason_code,),
        denial_reason="" if approve else note,
        note=note if approve else "",
    )
    if item.kind == InboxKind.RENEWAL:
        xml, mtype = (
            ncpdp.build_rx_renewal_response(ncpdp.RxRenewalResponseData(**common)),
            ncpdp.RX_RENEWAL_RESPONSE,
        )
    else:
        xml = ncpdp.build_rx_change_response(
            ncpdp.RxChangeResponseData(
                **common,
                request_code=parsed.fields.get("request_code") or "S",
                request_subcodes=tuple(parsed.fields.get("request_subcodes") or ()),
            )
        )
        mtype = ncpdp.RX_CHANGE_RESPONSE
    with transaction.atomic():
        item.status = InboxStatus.APPROVED if approve else InboxStatus.DENIED
        item.resolved_at = timezone.now()
        item.save(update_fields=["status", "resolved_at"])
        _outbox(
            rx=rx,
            message_type=mtype,
            message_id=message_id,
            xml=xml,
            endpoint=item.pharmacy.endpoint or (rx.pharmacy.endpoint if rx.pharmacy else ""),
            inbox_item=item,
        )
        if approve and item.kind == InboxKind.RENEWAL:
            _event(rx, RxStatus.RENEWED, f"renewal approved ({refills} refills)")
        elif approve:
            _event(rx, RxStatus.REPLACED, "change approved")
        else:
            PrescriptionEvent.objects.create(
                prescription=rx, status=rx.status, detail=f"{item.get_kind_display()} denied ({reason_code})"
            )
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={"inbox": str(item.pk), "approved": approve},
        )
    return item
