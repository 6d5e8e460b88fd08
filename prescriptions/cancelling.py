"""Cancelling a prescription: locally when nothing went out, else a CancelRx through the outbox (§4)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record

from . import lifecycle, mapping, ncpdp, ncpdp_build, outbox, selectors
from .models import (
    OutboundMessage,
    OutboundStatus,
    Prescription,
    RxStatus,
)


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
        new_rx = lifecycle.carrier_locked(rx)
        if status == RxStatus.DRAFT:
            lifecycle.cancel_locally(rx, "cancelled before signing")
        elif status in (RxStatus.SIGNED, RxStatus.PRINTED) and new_rx is None:
            lifecycle.cancel_locally(
                rx, "cancelled (not sent electronically: tell the pharmacy if it was printed or faxed)"
            )
        elif status in (RxStatus.QUEUED, RxStatus.SENT, RxStatus.DELIVERED, RxStatus.NEEDS_ATTENTION):
            if new_rx is None:
                lifecycle.cancel_locally(rx, "cancelled (no electronic prescription was sent)")
            elif new_rx.status == OutboundStatus.PENDING and new_rx.attempts == 0:
                lifecycle.cancel_locally(
                    rx,
                    f"cancelled before transmission: {new_rx.message_type} {new_rx.message_id} withdrawn, never sent",
                )
            elif new_rx.status in (OutboundStatus.NEEDS_ATTENTION, OutboundStatus.FAILED) and (
                new_rx.last_answer.startswith(ncpdp.ERROR)
            ):
                lifecycle.cancel_locally(
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
    xml = ncpdp_build.build_cancel_rx(
        mapping.new_rx_data(rx, new_rx.message_id),
        message_id=message_id,
        relates_to_message_id=new_rx.message_id,
    )
    rx.status_before_cancel = (
        rx.status_before_cancel
        if prior_status == RxStatus.NEEDS_ATTENTION and rx.status_before_cancel
        else prior_status
    )
    rx.save(update_fields=["status_before_cancel"])
    if not pharmacy.accepts_message(ncpdp.CANCEL_RX):
        reason = f"{lifecycle.not_accepted(pharmacy, ncpdp.CANCEL_RX)}: phone or fax the pharmacy to cancel, then resolve"
        outbox.outbox_add(
            rx=rx,
            message_type=ncpdp.CANCEL_RX,
            message_id=message_id,
            xml=xml,
            pharmacy=pharmacy,
            status=OutboundStatus.NEEDS_ATTENTION,
            reason=reason,
        )
        lifecycle.status_move(rx, RxStatus.NEEDS_ATTENTION, f"CancelRx not sent: {reason}")
        return
    outbox.outbox_add(rx=rx, message_type=ncpdp.CANCEL_RX, message_id=message_id, xml=xml, pharmacy=pharmacy)
    waits = new_rx.status in (OutboundStatus.PENDING, OutboundStatus.SENDING)
    lifecycle.status_move(
        rx,
        RxStatus.CANCEL_REQUESTED,
        f"CancelRx {message_id}" + (" (waits until the NewRx is answered)" if waits else ""),
    )
