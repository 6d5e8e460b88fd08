"""Thin Celery tasks: take ids and times, call a service."""

from datetime import datetime

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def waitlist_offer_slots(slots: list[list]) -> list[str]:
    """[[provider_id, start, end], ...] in the order to offer them (earliest first)."""
    offered = []
    for provider_id, start, end in slots:
        entry = services.waitlist_offer_slot(
            provider_id=provider_id, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end)
        )
        if entry:
            offered.append(str(entry.pk))
    return offered


@shared_task(acks_late=True)
def waitlist_offer(provider_id: int, start: str, end: str) -> str | None:
    """One slot (tasks queued before waitlist_offer_slots existed still arrive under this name)."""
    offered = waitlist_offer_slots([[provider_id, start, end]])
    return offered[0] if offered else None


@shared_task(acks_late=True)
def reminders_send() -> int:
    """Every minute (beat: ehr/settings.py). Idempotent: rows are claimed before sending."""
    return services.reminders_send_due()


@shared_task(acks_late=True)
def series_extend() -> int:
    """Daily (beat: ehr/settings.py): book the occurrences of recurring series that came within the horizon."""
    return services.series_extend_due()
