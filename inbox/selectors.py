"""Every read of the inbox. Lists show only items on patients the viewer may open (the one door's
`visible_patients`, VIEW_CLINICAL) and record one list event naming them; one item is read through `patient_get`
(outsiders 404, a permitted user without clinical access a plain 403) and only from the viewer's own queues.

Queries stay constant however full the inbox is: the page is one query for the queues' counts, one for the kinds'
counts, one for the rows (with their people and whether a patient notice waits), the user's teams and the list
event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.access import visible_patients
from patients.selectors import patient_get

from .models import InboxEvent, InboxItem, Kind, NoticeStatus, PatientNotice, Priority, State

MINE = "mine"
PAGE_ROWS = 100


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def user_teams(actor) -> list[Group]:
    """The care teams (groups that are not role groups) the user belongs to."""
    return list(actor.groups.exclude(name__in=list(roles.ROLES)).order_by("name"))


def _queue_q(actor, teams: list[Group]) -> Q:
    """Everything in any of the user's queues."""
    return Q(assignee=actor) | Q(escalated_to=actor) | Q(team__in=[t.pk for t in teams])


def _one_queue_q(actor, queue: str, teams: list[Group]) -> Q:
    if queue == MINE:
        return Q(assignee=actor) | Q(escalated_to=actor)
    team_id = queue.removeprefix("team:")
    if team_id.isdigit() and int(team_id) in {t.pk for t in teams}:
        return Q(team_id=int(team_id))
    raise Http404("No such queue")


def _open_visible(actor) -> QuerySet[InboxItem]:
    """Open items on patients `actor` may open (clinical access), and items that name no patient yet."""
    allowed = visible_patients(actor, roles.VIEW_CLINICAL).values("pk")
    return InboxItem.objects.exclude(state=State.DONE).filter(
        Q(patient__isnull=True) | Q(patient__in=allowed)
    )


@dataclass
class QueueCount:
    key: str
    label: str
    total: int = 0
    critical: int = 0
    abnormal: int = 0


def queue_counts(*, actor, teams: list[Group] | None = None) -> list[QueueCount]:
    """Open items per queue (mine, then each team), with how many are critical / abnormal. One query; records
    nothing (counts name no patient)."""
    teams = user_teams(actor) if teams is None else teams
    mine = Q(assignee=actor) | Q(escalated_to=actor)
    queues = [QueueCount(MINE, "Mine")] + [QueueCount(f"team:{t.pk}", t.name) for t in teams]
    filters = [mine] + [Q(team_id=t.pk) for t in teams]
    aggregates = {}
    for i, q in enumerate(filters):
        aggregates[f"t{i}"] = Count("pk", filter=q)
        aggregates[f"c{i}"] = Count("pk", filter=q & Q(priority=Priority.CRITICAL))
        aggregates[f"a{i}"] = Count("pk", filter=q & Q(priority=Priority.ABNORMAL))
    row = _open_visible(actor).filter(_queue_q(actor, teams)).aggregate(**aggregates)
    for i, qc in enumerate(queues):
        qc.total, qc.critical, qc.abnormal = row[f"t{i}"], row[f"c{i}"], row[f"a{i}"]
    return queues


@dataclass
class InboxPage:
    queue: str
    kind: str
    queues: list[QueueCount]
    kinds: list[tuple[str, str, int]]  # (value, label, open count) of the kinds in this queue
    items: Sequence[InboxItem] = field(default_factory=list)
    more: bool = False

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.kinds)


def inbox_page(
    *, actor, queue: str = MINE, kind: str = "", request=None, limit: int = PAGE_ROWS
) -> InboxPage:
    """One queue of open items, critical first then abnormal, newest first within each; filtered by kind.
    Records one list event naming the patients shown."""
    teams = user_teams(actor)
    base = _open_visible(actor).filter(_one_queue_q(actor, queue, teams))
    by_kind = dict(base.order_by().values_list("kind").annotate(n=Count("pk")))
    kinds = [(k.value, k.label, by_kind[k.value]) for k in Kind if by_kind.get(k.value)]
    if kind and kind not in Kind.values:
        kind = ""
    rows = (
        (base.filter(kind=kind) if kind else base)
        .select_related("patient", "assignee", "team", "escalated_to")
        .annotate(
            notice_pending=Exists(
                PatientNotice.objects.filter(item=OuterRef("pk"), status=NoticeStatus.PENDING)
            )
        )
        .order_by("priority", "-created_at")[: limit + 1]
    )
    items = list(rows)
    more = len(items) > limit
    items = items[:limit]
    shown = sorted({str(i.patient_id) for i in items if i.patient_id})
    if shown:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.INBOX,
            patient_ids=shown,
            request=request,
            detail={"list": "clinical inbox", "queue": queue, "kind": kind},
        )
    return InboxPage(
        queue=queue,
        kind=kind,
        queues=queue_counts(actor=actor, teams=teams),
        kinds=kinds,
        items=items,
        more=more,
    )


def item_get(
    *, actor, item_id, perm: str = roles.VIEW_CLINICAL, request=None, record: bool = True
) -> InboxItem:
    """One item of the viewer's queues, through the door: Http404 for an item that does not exist or is in
    nobody's queue the viewer belongs to; patient_get's 404 / 403 (ActionDenied) for the patient. `record=False`
    for services, which record their own event."""
    pk = _as_uuid(item_id)
    item = (
        InboxItem.objects.select_related("assignee", "team", "escalated_to", "completed_by")
        .filter(pk=pk)
        .first()
        if pk
        else None
    )
    if item is None:
        raise Http404("No such inbox item")
    if item.patient_id:
        # The door first: a user who may see the patient but not their clinical record is told so (403).
        item.patient = patient_get(
            actor=actor,
            patient_id=item.patient_id,
            perm=perm,
            category=categories.INBOX,
            request=request,
            record=record,
        )
    teams = {g.pk for g in user_teams(actor)}
    if actor.pk not in (item.assignee_id, item.escalated_to_id) and item.team_id not in teams:
        raise Http404("No such inbox item")
    return item


def item_history(*, item: InboxItem) -> list[InboxEvent]:
    """The item's history (an item already read through item_get)."""
    return list(item.events.select_related("actor", "to_user", "to_team"))


def item_notices(*, item: InboxItem) -> list[PatientNotice]:
    return list(item.notices.select_related("created_by"))


def forward_candidates(*, actor) -> list[tuple[int, str]]:
    """Colleagues an item may go to: active clinicians and nurses (whether they may open this patient's chart is
    checked when forwarding, with a message naming them)."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[roles.Role.CLINICIAN, roles.Role.NURSE])
        .exclude(pk=actor.pk)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    return [(u.pk, u.get_full_name() or u.get_username()) for u in users]


def home_panel(*, actor) -> dict | None:
    """The home page's inbox panel (clinicians and nurses): counts per queue, one query plus the user's teams."""
    if not roles.user_roles(actor) & {roles.Role.CLINICIAN, roles.Role.NURSE}:
        return None
    return {
        "title": "Inbox",
        "template": "inbox/_panel_inbox.html",
        "rows": queue_counts(actor=actor),
        "more": False,
    }
