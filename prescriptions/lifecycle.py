"""A prescription's status and timeline, shared by every e-prescribing write: one timeline entry, a status
move, the local cancel, and which outbox message carries a prescription to the pharmacy.
"""

from __future__ import annotations

from . import ncpdp
from .models import (
    OutboundMessage,
    OutboundStatus,
    Pharmacy,
    Prescription,
    PrescriptionEvent,
    RxStatus,
)


# ------------------------------------------------------------------ the timeline
def timeline_note(rx: Prescription, detail: str, status: str | None = None) -> None:
    """One timeline entry; the prescription's status is unchanged (or given, when it just changed)."""
    PrescriptionEvent.objects.create(
        prescription=rx, patient_id=rx.patient_id, status=status or rx.status, detail=detail[:500]
    )


def status_move(rx: Prescription, status: str, detail: str = "") -> None:
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
    timeline_note(rx, detail, status)


def not_accepted(pharmacy: Pharmacy | None, message_type: str) -> str:
    return f"{pharmacy or 'The pharmacy'} does not accept {message_type} electronically" + (
        f" (phone {pharmacy.phone}" + (f", fax {pharmacy.fax})" if pharmacy.fax else ")") if pharmacy else ""
    )


# ------------------------------------------------------------------ cancel
def outbox_close(rx: Prescription, detail: str) -> None:
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


def carries(msg: OutboundMessage, rx: Prescription) -> bool:
    if msg.message_type == ncpdp.NEW_RX:
        return True
    return (
        msg.message_type in CARRIERS
        and rx.replaces_id is not None
        and msg.inbox_item_id is not None
        and msg.inbox_item.prescription_id == rx.replaces_id
    )


def carrier_locked(rx: Prescription) -> OutboundMessage | None:
    """The prescription's carrier message, locked (see CARRIERS)."""
    rows = (
        OutboundMessage.objects.select_for_update(of=("self",))
        .select_related("inbox_item", "pharmacy")
        .filter(prescription=rx, message_type__in=CARRIERS)
        .order_by("-created_at")
    )
    return next((m for m in rows if carries(m, rx)), None)


def cancel_locally(rx: Prescription, detail: str) -> None:
    outbox_close(rx, detail)
    rx.status_before_cancel = ""
    rx.save(update_fields=["status_before_cancel"])
    status_move(rx, RxStatus.CANCELLED, detail)
