"""Thin Celery tasks: call a service."""

from celery import shared_task

from . import escalation


@shared_task(acks_late=True)
def escalate() -> int:
    """Beat: escalate open items that sat past their time (inbox/escalation.py)."""
    return escalation.items_escalate()
