"""Thin Celery tasks: take ids, call a service. Retries and idempotency: see prescriptions.services."""

from celery import shared_task

from . import services


class RetryableSend(Exception):
    """A transient failure; Celery retries with exponential backoff and jitter."""


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RetryableSend,),
    retry_backoff=1,
    retry_backoff_max=15,
    retry_jitter=True,
    max_retries=8,
)
def transmit_message(self, message_id: str) -> str:
    result = services.outbound_send(message_id)
    if result == "retry":
        if self.request.retries >= self.max_retries:
            services.outbound_give_up(message_id, f"no answer after {self.request.retries + 1} tries")
            return "gave-up"
        raise RetryableSend(message_id)
    return result


@shared_task(acks_late=True)
def requeue_stuck() -> int:
    """Beat: re-queue outbox rows pending or sending for too long (a lost task, a broker restart)."""
    return len(services.outbound_requeue_stuck())
