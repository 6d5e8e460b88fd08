"""The home page's panels: the user's day (appointments, arrivals) and the notes they have still to sign."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from scheduling import recurrence
from scheduling.models import (
    AppointmentStatus,
)
from scheduling.selectors import calendar_next, day_bounds

from .models import Note, NoteStatus

# ------------------------------------------------------------------ home page
# A home panel is a work list: the next rows, then a link to the day list (a clinic network's day is a thousand).
HOME_PANEL_ROWS = 25
# What the front desk still acts on today: not done, not a no-show.
_OPEN_STATUSES = (
    AppointmentStatus.SCHEDULED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.IN_ROOM,
    AppointmentStatus.WITH_PROVIDER,
)
_ARRIVED_STATUSES = (AppointmentStatus.ARRIVED, AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_ROOM)


def home_panels(*, actor, now: datetime | None = None) -> list[dict]:
    """The home page's work lists by role: front desk -> today's appointments still to come (or under way);
    clinician -> their own day and unsigned notes; nurse -> patients arrived and not yet with the provider. Each
    lists the patients the viewer may see, the first HOME_PANEL_ROWS of them ("more" says others follow), and
    records one list event naming those shown."""
    user_roles = roles.user_roles(actor)
    panels: list[dict] = []
    now = now or timezone.now()
    start, end = day_bounds(timezone.localdate(now, recurrence.clinic_tz()))
    today = {"actor": actor, "end": end, "limit": HOME_PANEL_ROWS}
    if roles.Role.FRONT_DESK in user_roles:
        items, more = calendar_next(start=max(start, now), statuses=_OPEN_STATUSES, **today)
        panels.append(
            {
                "title": "Coming up today",
                "template": "scheduling/_panel_day.html",
                "rows": items,
                "more": more,
            }
        )
    if roles.Role.CLINICIAN in user_roles:
        items, more = calendar_next(start=start, provider_ids=[actor.pk], **today)
        panels.append(
            {
                "title": "Your patients today",
                "template": "scheduling/_panel_day.html",
                "rows": items,
                "more": more,
            }
        )
        notes = list(
            Note.objects.filter(author=actor, status=NoteStatus.DRAFT)
            .select_related("patient", "encounter")
            .order_by("created_at")[:20]
        )
        if notes:
            access_record(
                actor=actor,
                action=Action.LIST,
                category=categories.CLINICAL_NOTE,
                patient_ids=[n.patient_id for n in notes],
            )
        panels.append({"title": "Unsigned notes", "template": "encounters/_panel_notes.html", "rows": notes})
    if roles.Role.NURSE in user_roles:
        items, more = calendar_next(start=start, statuses=_ARRIVED_STATUSES, **today)
        panels.append(
            {"title": "Arrivals", "template": "scheduling/_panel_day.html", "rows": items, "more": more}
        )
    return panels
