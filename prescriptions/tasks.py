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
    # One budget with the service: the first run plus max_retries retries = services.MAX_ATTEMPTS sends.
    max_retries=services.MAX_ATTEMPTS - 1,
)
def transmit_message(self, message_id: str) -> str:
    result = services.outbound_send(message_id)
    if result == "retry":
        if self.request.retries >= self.max_retries:
            services.outbound_give_up(message_id, f"gave up after {self.request.retries + 1} tries")
            return "gave-up"
        raise RetryableSend(message_id)
    return result


@shared_task(acks_late=True)
def requeue_stuck() -> dict:
    """Beat: re-queue outbox rows pending or sending for too long (a lost task, a broker restart), and send to
    needs attention what the network accepted (Status 000) but never answered for good within the deadline."""
    return {
        "requeued": len(services.outbound_requeue_stuck()),
        "expired": len(services.outbound_expire_unanswered()),
    }


@shared_task(acks_late=True)
def purge_inbound_nonces() -> int:
    """Beat: delete replay-protection nonces past their expiry."""
    return services.inbound_nonces_purge()
