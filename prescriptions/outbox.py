"""The outbox: sending stored NCPDP messages and applying the pharmacy's answers.

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

This module does not import ``prescriptions.tasks`` (the tasks import it): it queues the send task by name.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

import requests
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import categories
from audit.models import Action
from audit.services import access_record

from . import lifecycle, ncpdp, ncpdp_parse, selectors
from .models import (
    OutboundMessage,
    OutboundStatus,
    Pharmacy,
    Prescription,
    RxStatus,
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


# The Celery task that sends one message (prescriptions.tasks.transmit_message), queued by name so this module
# does not import the tasks module (which imports this one).
TRANSMIT_TASK = "prescriptions.tasks.transmit_message"


def transmit_later(msg_id) -> None:
    """Put the send task on the broker now (raises when the broker is unreachable)."""
    current_app.send_task(TRANSMIT_TASK, args=[str(msg_id)])


def enqueue(msg_id) -> None:
    """Queue the send after commit. If the broker is down the row stays pending: requeue_stuck sends it later."""

    def go():
        try:
            transmit_later(msg_id)
        except Exception:  # broker unreachable: the outbox row is the source of truth
            logger.warning("could not queue outbound message %s; requeue_stuck will pick it up", msg_id)

    transaction.on_commit(go)


def outbox_add(
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
        enqueue(msg.pk)
    return msg


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


def message_lock(pk) -> OutboundMessage | None:
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
        prescription_id=msg.prescription_id, message_type__in=lifecycle.CARRIERS, status__in=SENDABLE
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
            msg = message_lock(pk)
            if msg is None or msg.status not in SENDABLE:
                return "skipped"
            if msg.pharmacy is not None and not msg.pharmacy.accepts_message(msg.message_type):
                return _permanent(msg, lifecycle.not_accepted(msg.pharmacy, msg.message_type))
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
            msg = message_lock(pk)
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
        return "answer", ncpdp_parse.parse_message(resp.content)
    except ncpdp.NcpdpError as exc:
        return "unreadable", f"HTTP {resp.status_code}, unreadable answer: {exc.reason}"


def _apply_answer(msg: OutboundMessage, kind: str, value) -> str:
    if kind == "transient":
        return _transient(msg, value)
    if kind == "unreadable":
        return _permanent(msg, value)
    return answer_apply(msg, value, asynchronous=False)


def answer_apply(msg: OutboundMessage, answer: ncpdp.ParsedMessage, *, asynchronous: bool) -> str:
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
        lifecycle.timeline_note(
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
        carrier = lifecycle.carries(msg, rx)
        if carrier and rx.status == RxStatus.CANCEL_REQUESTED and refused:
            # The pharmacy refused the NewRx: it holds nothing to cancel, so the waiting CancelRx never goes.
            lifecycle.timeline_note(rx, f"{msg.message_type}: {reason}")
            lifecycle.cancel_locally(
                rx, f"cancelled: the pharmacy refused the {msg.message_type}; no CancelRx needed"
            )
        elif carrier and rx.status == RxStatus.CANCEL_REQUESTED:
            # No answer ever came: the CancelRx may go now (it waited for the NewRx to be settled).
            lifecycle.timeline_note(rx, f"{msg.message_type}: {reason}")
            _enqueue_waiting(rx)
        else:
            lifecycle.status_move(rx, RxStatus.NEEDS_ATTENTION, f"{msg.message_type}: {reason}")
    return "rejected"


def _enqueue_waiting(rx: Prescription) -> None:
    """Queue the prescription's pending messages now (a CancelRx that was waiting for its NewRx)."""
    for pk in OutboundMessage.objects.filter(
        prescription=rx, status=OutboundStatus.PENDING, message_type=ncpdp.CANCEL_RX
    ).values_list("pk", flat=True):
        enqueue(pk)


def _after_ack(msg: OutboundMessage, final: bool, detail: str) -> None:
    rx = msg.prescription
    if rx is None:
        return
    carries = lifecycle.carries(msg, rx)
    new_status = RxStatus.DELIVERED if final else RxStatus.SENT
    if carries and rx.status == RxStatus.CANCEL_REQUESTED:
        # A cancel is waiting: remember where a denial would put the prescription back, and let the CancelRx go.
        rx.status_before_cancel = new_status
        rx.save(update_fields=["status_before_cancel"])
        lifecycle.timeline_note(rx, f"{msg.message_type} {detail} (cancel pending)")
        _enqueue_waiting(rx)
    elif carries and rx.status in (RxStatus.QUEUED, RxStatus.SENT, RxStatus.NEEDS_ATTENTION, RxStatus.SIGNED):
        lifecycle.status_move(rx, new_status, f"{msg.message_type} {detail}")
    elif msg.message_type == ncpdp.CANCEL_RX:
        lifecycle.timeline_note(
            rx, f"CancelRx accepted ({detail}); waiting for the pharmacy's CancelRxResponse"
        )
    else:
        lifecycle.timeline_note(rx, f"{msg.message_type} accepted: {detail}")


def outbound_give_up(message_id, reason: str) -> None:
    """The task ran out of retries: a human takes over."""
    with transaction.atomic():
        msg = message_lock(message_id)
        if msg and msg.status in SENDABLE:
            _permanent(msg, reason)


def outbound_requeue_stuck(*, older_than_seconds: int | None = None) -> list[str]:
    """Re-queue messages pending/sending for too long (lost task, broker restart). Safe to over-queue:
    outbound_send's advisory lock and status guard make an extra task a no-op."""
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
            transmit_later(pk)
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
            msg = message_lock(pk)
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
