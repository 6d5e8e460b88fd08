"""What labs send: every ORU^R01 kept byte for byte, matched to its order or patient, filed or queued, and
answered with an ACK that says what happened.

Exactly once: the first copy of a (sending facility, control id) that was filed or queued is unique (a partial
unique constraint); a re-sent copy (the lab never got our ACK) is recorded as a duplicate and answered with the
first copy's ACK, never filed again. A different message reusing a control id is refused. A message refused or
failed may be sent again under the same control id once fixed.

Matching (never a guessed chart): the placer order number (OBR-2, ours), else the filler order number of an
earlier result; the order's patient must be the message's (same MRN). Without an order: our MRN (PID-3 assigned by
this facility) confirmed by the duplicate scorer (name and date of birth). Anything else goes to the unmatched
queue with the scorer's candidates, for staff to attach.
"""

from __future__ import annotations

import hashlib
import logging
import re

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Practitioner
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.duplicates import duplicate_candidates
from patients.models import Patient

from . import filing, hl7wire, signals
from .hl7wire import ACCEPT, ERROR, REJECT, Hl7Error
from .models import InboundMessage, InboundStatus, Order

logger = logging.getLogger(__name__)

FIRST_COPY = (InboundStatus.FILED, InboundStatus.UNMATCHED, InboundStatus.ATTACHED)
CONFIRM_SCORE = 50  # the duplicate scorer's points for the record named by MRN: DOB (25) and a similar name


class Unmatched(Exception):
    def __init__(self, reason: str, candidates: list | None = None):
        super().__init__(reason)
        self.reason = reason
        self.candidates = candidates or []


def _sniff_control_id(raw: bytes) -> str:
    m = re.match(rb"MSH(.)(?:[^\r\n]*?\1){8}([^\r\n|]{0,40})", raw[:2000])
    return m.group(2).decode("ascii", "replace") if m else ""


def _lock(facility: str, control_id: str) -> None:
    key = int.from_bytes(hashlib.sha256(f"{facility}|{control_id}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def message_receive(raw: bytes, *, peer: str = "") -> bytes:
    """Keep, process and answer one inbound message. Never raises: every outcome is recorded and answered."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        message = hl7wire.parse(raw)
        hdr = hl7wire.header(message)
    except Hl7Error as exc:
        control_id = _sniff_control_id(raw)
        _record(
            raw, digest, peer, {"control_id": control_id}, InboundStatus.REJECTED, exc.reason, exc.ack_code
        )
        return hl7wire.build_bare_ack(exc.ack_code, exc.reason, control_id=control_id)
    try:
        code, text = _receive(raw, digest, peer, message, hdr)
    except Exception as exc:  # recorded and answered: the lab re-sends, nothing is lost
        logger.exception("inbound HL7 %s could not be filed", hdr.get("control_id"))
        text = f"could not be filed ({type(exc).__name__}); kept for review, send again later"
        _record(raw, digest, peer, hdr, InboundStatus.ERROR, text, ERROR)
        code = ERROR
    return hl7wire.build_ack(
        message, code, text, sending_app=settings.HL7_APPLICATION, sending_facility=settings.HL7_FACILITY
    )


def _record(raw, digest, peer, hdr, status, outcome, ack_code, duplicate_of=None) -> InboundMessage:
    return InboundMessage.objects.create(
        raw=raw,
        sha256=digest,
        peer=peer[:100],
        sending_facility=hdr.get("sending_facility", "")[:40],
        control_id=hdr.get("control_id", "")[:40],
        message_type=hdr.get("message_type", "")[:20],
        status=status,
        outcome=outcome[:500],
        ack_code=ack_code,
        duplicate_of=duplicate_of,
    )


def _receive(raw, digest, peer, message, hdr) -> tuple[str, str]:
    facility, control_id = hdr["sending_facility"][:40], hdr["control_id"][:40]
    with transaction.atomic():
        if control_id:
            _lock(facility, control_id)
            first = InboundMessage.objects.filter(
                sending_facility=facility,
                control_id=control_id,
                duplicate_of__isnull=True,
                status__in=FIRST_COPY,
            ).first()
            if first is not None:
                return _duplicate(raw, digest, peer, hdr, first)
        msg = _record(raw, digest, peer, hdr, InboundStatus.ERROR, "being filed", "")
        try:
            with transaction.atomic():  # all of the message's reports, or none
                code, text = _process(msg, message, hdr)
        except Hl7Error as exc:
            msg.status, msg.outcome, msg.ack_code = InboundStatus.REJECTED, exc.reason[:500], exc.ack_code
            msg.save(update_fields=["status", "outcome", "ack_code"])
            return exc.ack_code, exc.reason
        except filing.NotFileable as exc:
            msg.status, msg.outcome, msg.ack_code = InboundStatus.REJECTED, str(exc)[:500], ERROR
            msg.save(update_fields=["status", "outcome", "ack_code"])
            return ERROR, str(exc)
        except Unmatched as exc:
            msg.status, msg.outcome, msg.ack_code = InboundStatus.UNMATCHED, exc.reason[:500], ACCEPT
            msg.candidates = exc.candidates
            msg.save(update_fields=["status", "outcome", "ack_code", "candidates"])
            reason = exc.reason
            transaction.on_commit(
                lambda: signals.unmatched_result_received.send(
                    sender=InboundMessage, message=msg, reason=reason
                )
            )
            return ACCEPT, "kept for matching by staff"
        msg.save(update_fields=["status", "outcome", "ack_code", "patient"])
        return code, text


def _duplicate(raw, digest, peer, hdr, first: InboundMessage) -> tuple[str, str]:
    if first.sha256 == digest:
        _record(
            raw,
            digest,
            peer,
            hdr,
            InboundStatus.DUPLICATE,
            f"a copy of the message received {first.received_at:%Y-%m-%d %H:%M:%S} UTC; nothing filed again",
            first.ack_code or ACCEPT,
            duplicate_of=first,
        )
        return first.ack_code or ACCEPT, "duplicate: already received"
    text = f"control id {hdr['control_id']} was already used by a different message; refused, nothing filed"
    _record(raw, digest, peer, hdr, InboundStatus.REJECTED, text, REJECT, duplicate_of=first)
    return REJECT, text


def _process(msg: InboundMessage, message, hdr) -> tuple[str, str]:
    if hdr["message_type"] != "ORU^R01":
        raise Hl7Error(
            f"message type {hdr['message_type'] or 'missing'} is not taken here (ORU^R01 only)", REJECT
        )
    if hdr["receiving_facility"] != settings.HL7_FACILITY:
        raise Hl7Error(
            f"addressed to facility {hdr['receiving_facility'] or '(none)'}, not this clinic "
            f"({settings.HL7_FACILITY}): refused, nothing filed",
            REJECT,
        )
    hl7wire.require_segments(message, ("PID", "OBR", "OBX"))
    ident = hl7wire.patient_of(message)
    reports = hl7wire.reports_of(message)
    matched = [_match(ident, r) for r in reports]
    patients = {p.pk for p, _ in matched}
    if len(patients) > 1:
        raise Unmatched("the message's results belong to different patients' orders")
    filed = []
    for (patient, order), data in zip(matched, reports, strict=True):
        clinician = order.ordering_clinician if order else _clinician_by_npi(data.provider_npi)
        filed.append(
            filing.report_file(message=msg, patient=patient, order=order, data=data, clinician=clinician)
        )
    patient = matched[0][0]
    msg.patient = patient
    msg.status, msg.ack_code = InboundStatus.FILED, ACCEPT
    orders = ", ".join(sorted({r.order.placer_number for r in filed if r.order})) or "no order: unsolicited"
    msg.outcome = f"filed {len(filed)} result{'s' if len(filed) != 1 else ''} to MRN {patient.mrn} ({orders})"
    cancelled = sorted({r.order.placer_number for r in filed if r.order and r.order.status == "cancelled"})
    if cancelled:  # filed all the same, and flagged
        msg.outcome = f"{msg.outcome}; flagged: order {', '.join(cancelled)} was cancelled"[:500]
    access_record(
        actor=None,
        action=Action.CREATE,
        category=categories.RESULTS_INBOUND,
        patient_id=patient.pk,
        channel="hl7",
        detail={"message": str(msg.pk), "control_id": hdr["control_id"], "reports": len(filed)},
    )
    return ACCEPT, "filed; the order was cancelled here" if cancelled else "filed"


def _survivor(patient: Patient) -> Patient:
    seen = 0
    while patient.merged_into_id and seen < 5:
        patient = Patient.objects.get(pk=patient.merged_into_id)
        seen += 1
    return patient


def _match(ident: hl7wire.PatientIdent, data: hl7wire.ReportData) -> tuple[Patient, Order | None]:
    order = None
    if data.placer_number:
        order = (
            Order.objects.select_related("patient", "ordering_clinician", "test")
            .filter(placer_number=data.placer_number)
            .first()
        )
    if order is None and data.filler_number:
        order = (
            Order.objects.select_related("patient", "ordering_clinician", "test")
            .filter(filler_number=data.filler_number)
            .first()
        )
    if order is not None:
        if ident.mrn != order.patient.mrn:
            raise Unmatched(
                f"order {order.placer_number} is for another patient than the message names (MRN {ident.mrn})"
            )
        return _survivor(order.patient), order
    if data.placer_number:
        raise Unmatched(f"no order {data.placer_number} here (placer order number unknown)")
    return patient_match(ident), None


def patient_match(ident: hl7wire.PatientIdent) -> Patient:
    """Our MRN (assigned by this facility) confirmed by name and date of birth; else Unmatched with candidates."""
    data = {
        "given_name": ident.given,
        "family_name": ident.family,
        "birth_date": _date(ident.birth_date),
        "sex_at_birth": ident.sex if ident.sex in ("F", "M") else "",
    }
    ours = ident.assigning_authority in ("", settings.HL7_FACILITY)
    candidates = duplicate_candidates(data=data, limit=5) if data["birth_date"] else []
    named = Patient.objects.filter(mrn=ident.mrn).first() if ident.mrn and ours else None
    if named is not None:
        confirmed = [c for c in candidates if c.patient.pk == named.pk and c.score >= CONFIRM_SCORE]
        if confirmed and named.birth_date == data["birth_date"]:
            return _survivor(named)
    reason = (
        f"MRN {ident.mrn} does not match the name and date of birth in the message"
        if named is not None
        else f"no patient with MRN {ident.mrn or '(none)'}"
        + ("" if ours else f" of this clinic (assigned by {ident.assigning_authority})")
    )
    raise Unmatched(
        reason,
        [{"patient_id": str(c.patient.pk), "score": c.score, "reasons": c.reasons} for c in candidates],
    )


def _date(value: str):
    try:
        return hl7wire.parse_ts(value).date() if value else None
    except Hl7Error:
        return None


def _clinician_by_npi(npi: str):
    if not npi:
        return None
    p = Practitioner.objects.select_related("user").filter(npi=npi).first()
    return p.user if p else None


# ------------------------------------------------------------------ the unmatched queue
def unmatched_attach(*, actor, message_id, patient_id, request=None) -> InboundMessage:
    """Staff attach a queued message to the patient they identified: its results are filed to that chart (an
    order is linked only when it belongs to that patient)."""
    from accounts import roles
    from patients.selectors import patient_get

    from .services import require_unmatched_permission

    require_unmatched_permission(actor)
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.RESULTS,
        request=request,
        record=False,
    )
    with transaction.atomic():
        msg = InboundMessage.objects.select_for_update().filter(pk=message_id).first()
        if msg is None or msg.status != InboundStatus.UNMATCHED:
            from django.core.exceptions import ValidationError

            raise ValidationError("This message is no longer waiting to be matched.")
        message = hl7wire.parse(bytes(msg.raw))
        for data in hl7wire.reports_of(message):
            order = Order.objects.filter(placer_number=data.placer_number, patient=patient).first()
            clinician = order.ordering_clinician if order else _clinician_by_npi(data.provider_npi)
            filing.report_file(
                message=msg, patient=patient, order=order, data=data, clinician=clinician or actor
            )
        msg.status = InboundStatus.ATTACHED
        msg.patient = patient
        msg.resolved_by = actor
        msg.resolved_at = timezone.now()
        msg.outcome = (msg.outcome + f"; attached to MRN {patient.mrn} by {actor.get_username()}")[:500]
        msg.save(update_fields=["status", "patient", "resolved_by", "resolved_at", "outcome"])
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.RESULTS,
            patient_id=patient.pk,
            request=request,
            detail={"message": str(msg.pk), "attached": True},
        )
    return msg
