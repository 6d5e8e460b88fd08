"""What pharmacies send us: authenticated (HMAC, nonce), parsed, matched to our prescription or prescriber,
stored in the prescriber's inbox, or applied as an asynchronous answer to a message we sent (reference §3, §6).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import categories
from audit.models import Action, Outcome
from audit.services import access_record

from . import lifecycle, mapping, ncpdp, ncpdp_build, ncpdp_parse, outbox, selectors, signals, signing
from .models import (
    InboundAnswer,
    InboundNonce,
    InboxItem,
    InboxKind,
    InboxStatus,
    OutboundStatus,
    Pharmacy,
    Prescription,
    RxStatus,
)

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
        header = ncpdp.reply_header(parsed, software=mapping.SOFTWARE)
    else:
        header = ncpdp.MessageHeader(
            to_id="unknown",
            to_qualifier="ZZZ",
            from_id="ehr",
            from_qualifier="ZZZ",
            message_id=ncpdp.new_message_id(),
            software=mapping.SOFTWARE,
        )
    return ncpdp_build.build_error(code, reason[:200], header=header, description_codes=(desc,))


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


def _authenticate(headers, body: bytes) -> Pharmacy:
    """The pharmacy whose shared secret signed this request, once per nonce (401 / 409 otherwise)."""
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
    return pharmacy


def _cannot_identify(parsed: ncpdp.ParsedMessage) -> InboundRejected:
    reason = "cannot identify the prescriber or the prescription"
    return InboundRejected(400, reason, error_reply(reason, desc=ncpdp.DESC_CANNOT_IDENTIFY, parsed=parsed))


def _addressee(*, pharmacy: Pharmacy, parsed: ncpdp.ParsedMessage):
    """(prescription, prescriber, patient, matched by) of a pharmacy's request: by our prescription, else by the
    prescriber (SPI or NPI) and a patient of theirs with that name and birth date; 400 when nobody matches."""
    rx = _inbound_prescription(pharmacy=pharmacy, parsed=parsed)
    if rx is not None:
        return rx, rx.prescriber, rx.patient, "prescription"
    fields = parsed.fields
    prescriber = selectors.prescriber_for_inbound(
        spi=parsed.to_id if parsed.to_qualifier == ncpdp.QUALIFIER_PRESCRIBER else "",
        npi=fields.get("prescriber_npi", ""),
    )
    if prescriber is None:
        raise _cannot_identify(parsed)
    patient = selectors.patient_match_for_prescriber(
        prescriber=prescriber,
        last_name=fields.get("patient_last_name", ""),
        first_name=fields.get("patient_first_name", ""),
        birth_date=fields.get("patient_birth_date", ""),
    )
    return None, prescriber, patient, "prescriber"


def _summary(kind: str, fields: dict) -> str:
    """The inbox line for a request."""
    if kind == InboxKind.RENEWAL:
        return f"Renewal request: {fields.get('drug_description', '')} ({fields.get('refills', '0')} refills asked)"
    if kind == InboxKind.CHANGE:
        code = ncpdp.CHANGE_REQUEST_CODES.get(fields.get("request_code", ""), "?")
        drug = fields.get("prescribed", {}).get("drug_description", "")
        return f"Change request ({code}): {len(fields.get('requested') or [])} option(s) for {drug}"
    return f"Cancel {fields.get('outcome', '')}: {fields.get('drug_description', '')}"


def _inbox_store(*, pharmacy: Pharmacy, parsed: ncpdp.ParsedMessage, body: bytes) -> None:
    """Store the request in the prescriber's inbox once per MessageID (a CancelRxResponse is applied at once)."""
    rx, prescriber, patient, matched = _addressee(pharmacy=pharmacy, parsed=parsed)
    fields = parsed.fields
    kind = INBOX_KINDS[parsed.message_type]
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
                summary=_summary(kind, fields)[:500],
                fields={k: v for k, v in fields.items() if isinstance(v, str | int | bool | list | dict)},
                status=InboxStatus.CLOSED if kind == InboxKind.CANCEL_RESPONSE else InboxStatus.OPEN,
            ),
        )
        if not created:
            return
        if rx is not None and kind == InboxKind.CANCEL_RESPONSE:
            _cancel_response_apply(rx=Prescription.objects.select_for_update().get(pk=rx.pk), fields=fields)
        elif rx is not None:
            lifecycle.timeline_note(
                rx, f"{parsed.message_type} from {pharmacy.name}: in the prescriber's inbox"
            )
        if kind != InboxKind.CANCEL_RESPONSE:
            signals.pharmacy_request_received.send(sender=InboxItem, item=item)
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


def inbound_receive(*, headers, body: bytes) -> bytes:
    """Authenticate and store a pharmacy's message; returns the Status to answer with (reference §6).

    Raises InboundRejected(401) for bad authentication, (409) for a replayed nonce, (400) with an NCPDP Error body
    for a malformed, unsupported or unidentifiable message. A message about a prescription that was not sent to
    the sending pharmacy is refused and recorded. A re-delivered MessageID gets the same Status and is applied once.
    """
    pharmacy = _authenticate(headers, body)
    try:
        parsed = ncpdp_parse.parse_message(body)
    except ncpdp.NcpdpError as exc:
        raise InboundRejected(400, exc.reason, error_reply(exc.reason)) from None
    if parsed.message_type in ANSWER_TYPES:
        return _inbound_answer(pharmacy=pharmacy, parsed=parsed)
    if parsed.message_type not in INBOX_KINDS:
        reason = f"the EHR does not accept {parsed.message_type} here"
        raise InboundRejected(400, reason, error_reply(reason, desc=ncpdp.DESC_NOT_SUPPORTED, parsed=parsed))
    status = ncpdp_build.build_status(
        ncpdp.STATUS_DELIVERED, header=ncpdp.reply_header(parsed, software=mapping.SOFTWARE)
    )
    if not selectors.inbox_item_exists(message_id=parsed.message_id):
        _inbox_store(pharmacy=pharmacy, parsed=parsed, body=body)
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
        lifecycle.timeline_note(
            rx, f"CancelRxResponse {fields.get('outcome', '')} arrived, but no cancel was pending"
        )
        return
    if approved:
        lifecycle.cancel_locally(rx, "pharmacy approved the cancel")
        return
    codes = ", ".join(
        f"{c} {ncpdp.CANCEL_DENIAL_CODES.get(c, '')}".strip() for c in fields.get("reason_codes") or []
    )
    reason = "; ".join(p for p in (codes, fields.get("denial_reason", "")) if p) or "no reason given"
    prior = rx.status_before_cancel or RxStatus.DELIVERED
    rx.status_before_cancel = ""
    rx.save(update_fields=["status_before_cancel"])
    lifecycle.status_move(rx, prior, f"pharmacy denied the cancel ({reason}); the prescription stands")
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
    reply = ncpdp_build.build_status(
        ncpdp.STATUS_DELIVERED, header=ncpdp.reply_header(parsed, software=mapping.SOFTWARE)
    )
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
        msg = outbox.message_lock(out.pk)
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
            outbox.answer_apply(msg, parsed, asynchronous=True)
            if msg.status == OutboundStatus.PENDING:
                outbox.enqueue(msg.pk)  # a transient Error: send the same MessageID again
        elif msg.prescription is not None:
            lifecycle.timeline_note(
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
