"""Thin Celery tasks: take ids, call a service. Retries and idempotency: see prescriptions.outbox.

The tasks import the services; the services never import this module (prescriptions.outbox queues
transmit_message by its name, outbox.TRANSMIT_TASK)."""

from celery import shared_task

from . import inbound, outbox


class RetryableSend(Exception):
    """A transient failure; Celery retries with exponential backoff and jitter."""


@shared_task(
    name=outbox.TRANSMIT_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RetryableSend,),
    retry_backoff=1,
    retry_backoff_max=15,
    retry_jitter=True,
    # One budget with the service: the first run plus max_retries retries = outbox.MAX_ATTEMPTS sends.
    max_retries=outbox.MAX_ATTEMPTS - 1,
)
def transmit_message(self, message_id: str) -> str:
    result = outbox.outbound_send(message_id)
    if result == "retry":
        if self.request.retries >= self.max_retries:
            outbox.outbound_give_up(message_id, f"gave up after {self.request.retries + 1} tries")
            return "gave-up"
        raise RetryableSend(message_id)
    return result


@shared_task(acks_late=True)
def requeue_stuck() -> dict:
    """Beat: re-queue outbox rows pending or sending for too long (a lost task, a broker restart), and send to
    needs attention what the network accepted (Status 000) but never answered for good within the deadline."""
    return {
        "requeued": len(outbox.outbound_requeue_stuck()),
        "expired": len(outbox.outbound_expire_unanswered()),
    }


@shared_task(acks_late=True)
def purge_inbound_nonces() -> int:
    """Beat: delete replay-protection nonces past their expiry."""
    return inbound.inbound_nonces_purge()
