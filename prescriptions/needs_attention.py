"""Messages that need attention: a nurse or clinician sends one again or closes it by hand."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.selectors import patient_get

from . import lifecycle, ncpdp, outbox, selectors
from .models import (
    OutboundMessage,
    OutboundStatus,
    RxStatus,
)


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
        msg = outbox.message_lock(message_id)
        if msg.status != OutboundStatus.NEEDS_ATTENTION:
            raise ValidationError("Only messages that need attention can be retried.")
        if msg.pharmacy is not None and not msg.pharmacy.accepts_message(msg.message_type):
            raise ValidationError(
                f"{lifecycle.not_accepted(msg.pharmacy, msg.message_type)}: resolve it by phone or fax."
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
                lifecycle.status_move(rx, RxStatus.CANCEL_REQUESTED, detail)
            elif rx.status == RxStatus.NEEDS_ATTENTION and msg.message_type == ncpdp.NEW_RX:
                lifecycle.status_move(rx, RxStatus.QUEUED, detail)
            else:
                lifecycle.timeline_note(rx, detail)
        access_record(
            actor=actor,
            action=Action.TRANSMIT,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"retry": msg.message_id},
        )
        outbox.enqueue(msg.pk)
    return msg


def outbound_resolve(*, actor, message_id, note: str = "", request=None) -> OutboundMessage:
    """Close a needs-attention message by hand (phoned or faxed). A NewRx makes the prescription an error; a
    CancelRx phoned or faxed to the pharmacy makes it cancelled. Caller: as outbound_retry."""
    _, patient = _attention_message(actor=actor, message_id=message_id, request=request)
    with transaction.atomic():
        msg = outbox.message_lock(message_id)
        if msg.status != OutboundStatus.NEEDS_ATTENTION:
            raise ValidationError("Only messages that need attention can be resolved.")
        msg.status = OutboundStatus.FAILED
        msg.last_error = f"resolved by {actor.get_username()}: {note}"[:500]
        msg.save(update_fields=["status", "last_error", "updated_at"])
        rx = msg.prescription
        if rx is not None:
            if msg.message_type == ncpdp.CANCEL_RX:
                lifecycle.cancel_locally(rx, f"cancel phoned or faxed to the pharmacy: {note}")
            elif msg.message_type == ncpdp.NEW_RX:
                lifecycle.status_move(rx, RxStatus.ERROR, f"resolved by hand: {note}")
            else:
                lifecycle.timeline_note(rx, f"{msg.message_type} resolved by hand: {note}")
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.PRESCRIPTION,
            patient_id=patient.pk,
            request=request,
            detail={"resolved": msg.message_id},
        )
    return msg
