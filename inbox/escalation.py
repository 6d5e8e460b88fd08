"""Escalation: an open item past its `escalate_at` goes to whoever covers its assignee (inbox.models.Coverage: a
colleague and/or a care team) and is marked escalated; it stays in the assignee's queue too. Run by the beat task
`inbox.tasks.escalate` (settings.CELERY_BEAT_SCHEDULE); how long each kind may wait is
settings.INBOX_ESCALATE_AFTER_MINUTES (inbox/sources.py has the defaults).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Coverage, EventKind, InboxEvent, InboxItem, State

BATCH = 500


def _describe(to_user, to_team) -> str:
    names = [
        n
        for n in (
            (to_user.get_full_name() or to_user.get_username()) if to_user else "",
            to_team.name if to_team else "",
        )
        if n
    ]
    return "to " + " and ".join(names) if names else "no one covers this clinician: still theirs, flagged"


def items_escalate(*, now=None, batch: int = BATCH) -> int:
    """Escalate up to `batch` overdue items (rows locked, others' locks skipped, so two runs never escalate one
    item twice). Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        items = list(
            InboxItem.objects.select_for_update(skip_locked=True)
            .filter(escalated_at__isnull=True, escalate_at__lte=now)
            .exclude(state=State.DONE)
            .order_by("escalate_at")[:batch]
        )
        covers = {
            c.clinician_id: c
            for c in Coverage.objects.filter(
                clinician_id__in={i.assignee_id for i in items if i.assignee_id}
            ).select_related("covering", "team")
        }
        for item in items:
            cover = covers.get(item.assignee_id)
            to_user = cover.covering if cover and cover.covering_id and cover.covering.is_active else None
            to_team = cover.team if cover and cover.team_id and item.team_id is None else None
            item.escalated_at, item.escalated_to = now, to_user
            if to_team is not None:
                item.team = to_team
            item.save(update_fields=["escalated_at", "escalated_to", "team", "updated_at"])
            InboxEvent.objects.create(
                item=item,
                patient_id=item.patient_id,
                kind=EventKind.ESCALATED,
                to_user=to_user,
                to_team=to_team,
                note=f"Open past its time: escalated {_describe(to_user, to_team)}",
            )
    return len(items)
