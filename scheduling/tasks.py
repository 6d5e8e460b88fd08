"""Thin Celery tasks: take ids and times, call a service.

The tasks keep the names they were registered under when scheduling was part of `encounters` (task_names.py): tasks
already queued under those names, and the beat schedule's entries, still reach them."""

from datetime import datetime

from celery import shared_task

from . import reminders, series, waitlist
from .task_names import WAITLIST_OFFER_SLOTS


@shared_task(name=WAITLIST_OFFER_SLOTS, acks_late=True)
def waitlist_offer_slots(slots: list[list]) -> list[str]:
    """[[provider_id, start, end], ...] in the order to offer them (earliest first)."""
    offered = []
    for provider_id, start, end in slots:
        entry = waitlist.waitlist_offer_slot(
            provider_id=provider_id, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end)
        )
        if entry:
            offered.append(str(entry.pk))
    return offered


@shared_task(name="encounters.tasks.waitlist_offer", acks_late=True)
def waitlist_offer(provider_id: int, start: str, end: str) -> str | None:
    """One slot (tasks queued before waitlist_offer_slots existed still arrive under this name)."""
    offered = waitlist_offer_slots([[provider_id, start, end]])
    return offered[0] if offered else None


@shared_task(name="encounters.tasks.reminders_send", acks_late=True)
def reminders_send() -> int:
    """Every minute (beat: ehr/settings.py). Idempotent: rows are claimed before sending."""
    return reminders.reminders_send_due()


@shared_task(name="encounters.tasks.series_extend", acks_late=True)
def series_extend() -> int:
    """Daily (beat: ehr/settings.py): book the occurrences of recurring series that came within the horizon."""
    return series.series_extend_due()
