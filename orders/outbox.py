"""The orders outbox: each ORM^O01 is built once, stored with its control id in the transaction that signs the
order, and sent over MLLP by a Celery task (``orders.tasks.transmit_order``), exactly as for prescriptions
(``prescriptions/outbox.py`` explains the guarantee): a session advisory lock per message for the whole exchange,
``sending`` committed before the bytes leave, the same bytes and control id on every retry (the lab de-duplicates
by control id), a requeue job for rows a killed worker or a lost broker left behind.

The lab's ACK decides: AA/CA accepted; AR/CR (refused for reasons other than the content: the lab is busy or
down) and no answer at all are retried with backoff; AE/CE (the content is wrong) and exhausted retries go to
needs attention with the reason, for a human.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import categories
from audit.models import Action
from audit.services import access_record

from . import hl7wire
from .models import Order, OrderStatus, OutboundMessage, OutboundStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = getattr(settings, "ORDERS_MAX_ATTEMPTS", 10)
SEND_TIMEOUT_SECONDS = getattr(settings, "ORDERS_SEND_TIMEOUT_SECONDS", 5)
STUCK_AFTER_SECONDS = 120
TRANSMIT_TASK = "orders.tasks.transmit_order"
SENDABLE = (OutboundStatus.PENDING, OutboundStatus.SENDING)
CANCEL_TYPE = "ORM^O01 CA"  # an ORM^O01 whose ORC-1 is CA: cancel the order (OutboundMessage.message_type)


def transmit_later(msg_id) -> None:
    current_app.send_task(TRANSMIT_TASK, args=[str(msg_id)])


def enqueue(msg_id) -> None:
    """Queue the send after commit; with the broker down the row stays pending for requeue_stuck."""

    def go():
        try:
            transmit_later(msg_id)
        except Exception:
            logger.warning("could not queue order message %s; requeue_stuck will pick it up", msg_id)

    transaction.on_commit(go)


def outbox_add(*, order: Order, payload_for, message_type: str = "ORM^O01") -> OutboundMessage:
    control_id = hl7wire.new_control_id()
    msg = OutboundMessage.objects.create(
        order=order,
        message_type=message_type,
        patient_id=order.patient_id,
        lab=order.lab,
        control_id=control_id,
        payload=payload_for(order, control_id),
        next_attempt_at=timezone.now(),
    )
    enqueue(msg.pk)
    return msg


@contextlib.contextmanager
def _send_lock(pk: uuid.UUID):
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


def _locked(pk) -> OutboundMessage | None:
    return (
        OutboundMessage.objects.select_for_update(of=("self",))
        .select_related("order__patient", "lab")
        .filter(pk=pk)
        .first()
    )


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def outbound_send(message_id) -> str:
    """Send one row; returns acknowledged, rejected (needs attention), retry, busy or skipped."""
    pk = _as_uuid(message_id)
    if pk is None:
        return "skipped"
    with _send_lock(pk) as held:
        if not held:
            return "busy"
        with transaction.atomic():
            msg = _locked(pk)
            if msg is None or msg.status not in SENDABLE:
                return "skipped"
            if msg.order.patient.merged_into_id:
                return _permanent(msg, "the patient's record was merged into another: not sent; order again")
            if not msg.lab.electronic:
                return _permanent(msg, f"{msg.lab.name} has no HL7 address")
            if _earlier_unsent(msg):  # a cancel goes after the order it cancels, never before
                return _transient(msg, "waiting for the order itself to reach the lab first")
            msg.attempts += 1
            msg.status = OutboundStatus.SENDING
            msg.save(update_fields=["attempts", "status", "updated_at"])
            host, port, payload = msg.lab.host, msg.lab.port, bytes(msg.payload)
        outcome = _exchange(host, port, payload)
        with transaction.atomic():
            msg = _locked(pk)
            if msg is None or msg.status != OutboundStatus.SENDING:
                return "skipped"
            return _apply(msg, *outcome)


def _earlier_unsent(msg: OutboundMessage) -> bool:
    return (
        msg.message_type == CANCEL_TYPE
        and OutboundMessage.objects.filter(
            order_id=msg.order_id, created_at__lt=msg.created_at, status__in=SENDABLE
        ).exists()
    )


def _exchange(host: str, port: int, payload: bytes) -> tuple[str, str, str]:
    """(kind, code, text): kind is 'answer' or 'transient'."""
    try:
        answer = hl7wire.mllp_exchange(host, port, payload, timeout=SEND_TIMEOUT_SECONDS)
    except TimeoutError:
        return "transient", "", f"no answer within {SEND_TIMEOUT_SECONDS}s"
    except OSError as exc:
        return "transient", "", f"{type(exc).__name__}: {exc}"[:300]
    try:
        code, _, text = hl7wire.ack_of(answer)
    except hl7wire.Hl7Error as exc:
        return "transient", "", f"unreadable answer: {exc.reason}"
    return "answer", code, text


def _apply(msg: OutboundMessage, kind: str, code: str, text: str) -> str:
    if kind == "transient":
        return _transient(msg, text)
    msg.last_answer = f"{code} {text}".strip()[:200]
    if code in ("AA", "CA"):
        msg.status = OutboundStatus.ACKNOWLEDGED
        msg.last_error = ""
        msg.save(update_fields=["status", "last_error", "last_answer", "updated_at"])
        order = Order.objects.select_for_update().get(pk=msg.order_id)
        if order.status in (OrderStatus.QUEUED, OrderStatus.NEEDS_ATTENTION, OrderStatus.SIGNED):
            order.status = OrderStatus.SENT
            order.status_reason = ""
            order.save(update_fields=["status", "status_reason", "updated_at"])
        return "acknowledged"
    if code in ("AR", "CR"):
        return _transient(msg, f"the lab refused it for now ({code}{': ' + text if text else ''})")
    return _permanent(msg, f"the lab found an error ({code}{': ' + text if text else ''})")


def _transient(msg: OutboundMessage, reason: str) -> str:
    msg.last_error = reason[:500]
    if msg.attempts >= MAX_ATTEMPTS:
        return _permanent(msg, f"gave up after {msg.attempts} attempts: {reason}")
    msg.status = OutboundStatus.PENDING
    msg.next_attempt_at = timezone.now() + timedelta(seconds=min(2**msg.attempts, 60))
    msg.save(update_fields=["status", "last_error", "last_answer", "next_attempt_at", "updated_at"])
    return "retry"


def _permanent(msg: OutboundMessage, reason: str) -> str:
    msg.status = OutboundStatus.NEEDS_ATTENTION
    msg.last_error = reason[:500]
    msg.save(update_fields=["status", "last_error", "last_answer", "updated_at"])
    order = Order.objects.select_for_update().get(pk=msg.order_id)
    if order.status in (OrderStatus.QUEUED, OrderStatus.SIGNED):
        order.status = OrderStatus.NEEDS_ATTENTION
        order.status_reason = reason[:500]
        order.save(update_fields=["status", "status_reason", "updated_at"])
    return "rejected"


def outbound_give_up(message_id, reason: str) -> None:
    with transaction.atomic():
        msg = _locked(message_id)
        if msg and msg.status in SENDABLE:
            _permanent(msg, reason)


def outbound_requeue_stuck(*, older_than_seconds: int | None = None) -> list[str]:
    """Re-queue rows pending or sending for too long (a lost task, a killed worker, a broker restart). Extra
    tasks are harmless: the advisory lock and the status guard make them no-ops."""
    cutoff = timezone.now() - timedelta(
        seconds=STUCK_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    )
    rows = list(
        OutboundMessage.objects.filter(
            status__in=SENDABLE, updated_at__lt=cutoff, next_attempt_at__lt=timezone.now()
        ).values_list("pk", "patient_id")[:500]
    )
    queued = []
    for pk, _ in rows:
        try:
            transmit_later(pk)
            queued.append(pk)
        except Exception:
            logger.warning("broker unreachable; %s stays pending", pk)
            break
    if queued:
        OutboundMessage.objects.filter(pk__in=queued).update(updated_at=timezone.now())
        access_record(
            actor=None,
            action=Action.TRANSMIT,
            category=categories.LAB_ORDER,
            patient_ids=sorted({str(p) for pk, p in rows if pk in queued}),
            channel="task",
            detail={"requeued": len(queued)},
        )
    return [str(pk) for pk in queued]
