"""Thin Celery tasks: take ids, call a service (retries and idempotency: orders.outbox)."""

from celery import shared_task

from . import outbox


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
    max_retries=outbox.MAX_ATTEMPTS - 1,
)
def transmit_order(self, message_id: str) -> str:
    result = outbox.outbound_send(message_id)
    if result == "retry":
        if self.request.retries >= self.max_retries:
            outbox.outbound_give_up(message_id, f"gave up after {self.request.retries + 1} tries")
            return "gave-up"
        raise RetryableSend(message_id)
    return result


@shared_task(acks_late=True)
def requeue_stuck() -> int:
    """Beat: re-queue order messages pending or sending for too long."""
    return len(outbox.outbound_requeue_stuck())
