from celery import shared_task

from .notify import break_glass_notify_send


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def break_glass_notify(grant_id: str) -> bool:
    return break_glass_notify_send(grant_id=grant_id)
