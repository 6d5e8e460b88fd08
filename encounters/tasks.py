"""Thin Celery tasks: take ids and times, call a service."""

from datetime import datetime

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def waitlist_offer(provider_id: int, start: str, end: str) -> str | None:
    entry = services.waitlist_offer_slot(
        provider_id=provider_id, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end)
    )
    return str(entry.pk) if entry else None


@shared_task(acks_late=True)
def reminders_send() -> int:
    """Every minute (beat, see apps.py). Idempotent: rows are claimed before sending."""
    return services.reminders_send_due()


@shared_task(acks_late=True)
def series_extend() -> int:
    """Daily (beat, see apps.py): book the occurrences of recurring series that came within the horizon."""
    return services.series_extend_due()
