"""How work reaches the inbox: the one function every source calls (`post_item`), and `close_item` for work that
was finished at its source (a pharmacy request answered on its own page).

A source names its item with `source_ref`, unique per kind (a database constraint): posting again, after a
re-sent signal, a redelivered message or a retried task, returns the item already there and changes nothing.
Sources call these inside their own transaction, so an item exists exactly when the thing it is about does.

Posting is done by the system, not a user: the write is audited through django-auditlog (inbox/apps.py), whose
entries become access events naming the patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import EventKind, InboxEvent, InboxItem, Kind, Priority, State

# Default minutes an open item may sit before it escalates (settings.INBOX_ESCALATE_AFTER_MINUTES overrides per
# kind; None: never). A task counts from its due date.
ESCALATE_AFTER_MINUTES: dict[str, int | None] = {
    Kind.CRITICAL_RESULT: 60,
    Kind.RESULT: 3 * 24 * 60,
    Kind.RESULT_TO_SIGN: 3 * 24 * 60,
    Kind.UNMATCHED_RESULT: 24 * 60,
    Kind.RENEWAL_REQUEST: 2 * 24 * 60,
    Kind.CHANGE_REQUEST: 2 * 24 * 60,
    Kind.TASK: 24 * 60,
    Kind.DOCUMENT: 7 * 24 * 60,
    Kind.PATIENT_MESSAGE: 2 * 24 * 60,
    Kind.DEVICE_ALERT: 4 * 60,
}


def escalate_after(kind: str) -> timedelta | None:
    minutes = {**ESCALATE_AFTER_MINUTES, **getattr(settings, "INBOX_ESCALATE_AFTER_MINUTES", {})}.get(kind)
    return None if minutes is None else timedelta(minutes=int(minutes))


def escalate_at(kind: str, *, start: datetime, due_at: datetime | None = None) -> datetime | None:
    after = escalate_after(kind)
    if after is None:
        return None
    return (due_at or start) + after


def post_item(
    *,
    kind: str,
    title: str,
    source_ref: str,
    patient=None,
    assignee=None,
    team=None,
    priority: int = Priority.NORMAL,
    detail: str = "",
    link_name: str = "",
    link_args: Iterable = (),
    link_url: str = "",
    due_at: datetime | None = None,
) -> tuple[InboxItem, bool]:
    """The item for (kind, source_ref), made now unless it exists: (item, created). Goes to `assignee` (a user)
    and/or `team` (a care-team group); at least one. `link_name`/`link_args` name the page of the source."""
    if kind not in Kind.values:
        raise ValueError(f"unknown inbox kind {kind!r}")
    if not source_ref:
        raise ValueError("a source must name its item (source_ref)")
    if assignee is None and team is None:
        raise ValueError("an inbox item needs an assignee or a team")
    now = timezone.now()
    with transaction.atomic():
        item, created = InboxItem.objects.get_or_create(
            kind=kind,
            source_ref=str(source_ref)[:200],
            defaults=dict(
                patient=patient,
                assignee=assignee,
                team=team,
                priority=priority,
                title=title[:300],
                detail=detail,
                link_name=link_name,
                link_args=[str(a) for a in link_args],
                link_url=link_url[:500],
                due_at=due_at,
                escalate_at=escalate_at(kind, start=now, due_at=due_at),
            ),
        )
        if created:
            InboxEvent.objects.create(
                item=item, patient=patient, kind=EventKind.POSTED, to_user=assignee, to_team=team
            )
    return item, created


def close_item(*, kind: str, source_ref: str, actor=None, note: str = "") -> InboxItem | None:
    """Close the item of (kind, source_ref) because its work was done at the source; None if there is none.
    Closing twice changes nothing."""
    with transaction.atomic():
        item = InboxItem.objects.select_for_update().filter(kind=kind, source_ref=str(source_ref)).first()
        if item is None or item.state == State.DONE:
            return item
        item.state, item.completed_at, item.completed_by = State.DONE, timezone.now(), actor
        item.comment = note[:2000]
        item.save(update_fields=["state", "completed_at", "completed_by", "comment", "updated_at"])
        InboxEvent.objects.create(
            item=item, patient_id=item.patient_id, kind=EventKind.CLOSED, actor=actor, note=note
        )
    return item


# ------------------------------------------------------------------ e-prescribing's requests
PHARMACY_REQUEST_KINDS = {"renewal": Kind.RENEWAL_REQUEST, "change": Kind.CHANGE_REQUEST}


def pharmacy_request_post(rx_item) -> tuple[InboxItem, bool] | None:
    """The inbox item for a pharmacy's renewal or change request (prescriptions.models.InboxItem), addressed to
    the prescriber it was sent to. The request's own page answers it."""
    kind = PHARMACY_REQUEST_KINDS.get(rx_item.kind)
    if kind is None:
        return None
    return post_item(
        kind=kind,
        title=rx_item.summary,
        source_ref=str(rx_item.pk),
        patient=rx_item.patient,
        assignee=rx_item.prescriber,
        link_name="prescriptions:inbox_item",
        link_args=[rx_item.pk],
        detail=f"From {rx_item.pharmacy.name}" if rx_item.pharmacy_id else "",
    )


def pharmacy_request_close(rx_item, *, actor=None) -> InboxItem | None:
    kind = PHARMACY_REQUEST_KINDS.get(rx_item.kind)
    if kind is None:
        return None
    return close_item(
        kind=kind,
        source_ref=str(rx_item.pk),
        actor=actor,
        note=f"{rx_item.get_status_display()} on the request",
    )


def pharmacy_requests_sync() -> int:
    """Post every open renewal/change request that has no item yet (the demo builds requests directly; a
    database upgraded to the inbox has requests from before it). Returns how many were made."""
    from prescriptions.models import InboxItem as RxRequest
    from prescriptions.models import InboxStatus

    made = 0
    open_requests = RxRequest.objects.filter(status=InboxStatus.OPEN, kind__in=list(PHARMACY_REQUEST_KINDS))
    for rx_item in open_requests.select_related("pharmacy", "prescriber", "patient"):
        _, created = pharmacy_request_post(rx_item) or (None, False)
        made += created
    return made


# ------------------------------------------------------------------ results (the orders app, issue 20)
def result_post(
    *,
    source_ref: str,
    patient,
    clinician,
    title: str,
    is_critical: bool = False,
    is_abnormal: bool = False,
    detail: str = "",
    link_name: str = "",
    link_args: Iterable = (),
    link_url: str = "",
) -> tuple[InboxItem, bool]:
    """A result for its ordering clinician: critical ones at the top and escalating within the hour to whoever
    covers them (their coverage team sees it at once too), abnormal ones next."""
    from .models import Coverage

    team = None
    if is_critical:
        team = Coverage.objects.filter(clinician=clinician).values_list("team", flat=True).first()
    return post_item(
        kind=Kind.CRITICAL_RESULT if is_critical else Kind.RESULT,
        priority=Priority.CRITICAL if is_critical else Priority.ABNORMAL if is_abnormal else Priority.NORMAL,
        title=title,
        source_ref=source_ref,
        patient=patient,
        assignee=clinician,
        team=_group(team) if team else None,
        detail=detail,
        link_name=link_name,
        link_args=link_args,
        link_url=link_url,
    )


def unmatched_result_post(*, source_ref: str, title: str, detail: str = "", link_url: str = "", team=None):
    """A result that matched no chart: to the results team's queue (settings.INBOX_UNMATCHED_TEAM), never to a
    guessed patient."""
    from django.contrib.auth.models import Group

    if team is None:
        team, _ = Group.objects.get_or_create(name=getattr(settings, "INBOX_UNMATCHED_TEAM", "Results desk"))
    return post_item(
        kind=Kind.UNMATCHED_RESULT,
        priority=Priority.ABNORMAL,
        title=title,
        source_ref=source_ref,
        team=team,
        detail=detail,
        link_url=link_url,
    )


def _group(pk):
    from django.contrib.auth.models import Group

    return Group.objects.get(pk=pk)
