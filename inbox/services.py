"""Every write a person makes on the inbox: open (seen), sign off, forward, follow-up task, notify the patient.

Each starts at the door (selectors.item_get with CHANGE_CLINICAL: outsiders 404, a permitted user without the
permission a 403, recorded as denied before any transaction opens) and records one access event for what it did;
the rows it changes are audited by django-auditlog as well.
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.access import patient_access_for

from . import selectors, sources
from .models import (
    EventKind,
    InboxEvent,
    InboxItem,
    Kind,
    NoticeStatus,
    PatientNotice,
    Priority,
    State,
)

COMMENT_MAX = 2000


def _record(*, actor, item: InboxItem, action: str, request, detail: dict) -> None:
    access_record(
        actor=actor,
        action=action,
        category=categories.INBOX,
        patient_id=item.patient_id,
        request=request,
        detail={"inbox_item": str(item.pk), "kind": item.kind, **detail},
    )


def _locked_open(item: InboxItem) -> InboxItem:
    locked = InboxItem.objects.select_for_update().get(pk=item.pk)
    if locked.state == State.DONE:
        raise ValidationError("This item is already done.")
    locked.patient = item.patient  # the door's instance, with its access
    return locked


def item_seen(*, actor, item_id, request=None) -> InboxItem:
    """The opened item is no longer new (posted by the page once it shows the item: a GET never writes). The read
    itself was recorded by the GET; this records nothing more than the state change."""
    item = selectors.item_get(actor=actor, item_id=item_id, request=request, record=False)
    if item.state == State.NEW:
        with transaction.atomic():
            updated = InboxItem.objects.filter(pk=item.pk, state=State.NEW).update(
                state=State.SEEN, updated_at=timezone.now()
            )
            if updated:
                InboxEvent.objects.create(
                    item=item, patient_id=item.patient_id, kind=EventKind.SEEN, actor=actor
                )
        item.state = State.SEEN
    return item


def _clean_text(value: str, *, label: str, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationError({label: "Write a few words."})
    if len(text) > COMMENT_MAX:
        raise ValidationError({label: f"At most {COMMENT_MAX:,} characters ({len(text):,} given)."})
    return text


def item_sign_off(*, actor, item_id, comment: str = "", request=None) -> InboxItem:
    """Review and sign off: the item is done, with the reviewer's comment. A critical result needs a comment
    (what was done about it); a pharmacy's request is answered on its own page instead."""
    item = selectors.item_get(
        actor=actor, item_id=item_id, perm=roles.CHANGE_CLINICAL, request=request, record=False
    )
    comment = _clean_text(comment, label="comment", required=item.priority == Priority.CRITICAL)
    if item.is_pharmacy_request:
        raise ValidationError(
            "Answer the pharmacy's request on its page: approving signs a new prescription."
        )
    with transaction.atomic():
        item = _locked_open(item)
        if item.source_ref.startswith("report:"):  # a filed lab result: signing here signs the report off too
            from orders.services import result_sign_off

            result_sign_off(
                actor=actor,
                report_id=item.source_ref.removeprefix("report:"),
                comment=comment,
                request=request,
            )
        item.state, item.completed_at, item.completed_by, item.comment = (
            State.DONE,
            timezone.now(),
            actor,
            comment,
        )
        item.save(update_fields=["state", "completed_at", "completed_by", "comment", "updated_at"])
        InboxEvent.objects.create(
            item=item, patient_id=item.patient_id, kind=EventKind.SIGNED, actor=actor, note=comment
        )
        _record(actor=actor, item=item, action=Action.SIGN, request=request, detail={"signed_off": True})
    return item


def _colleague(user_id):
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        pk = None
    user = get_user_model().objects.filter(pk=pk, is_active=True).first() if pk else None
    if user is None or not roles.user_roles(user) & {roles.Role.CLINICIAN, roles.Role.NURSE}:
        raise ValidationError({"to_user": "Pick a clinician or nurse."})
    return user


def item_forward(*, actor, item_id, to_user_id, note: str = "", request=None) -> InboxItem:
    """Send the item to a colleague's queue with a note (the history keeps who sent it, to whom, and why). The
    colleague must be able to open the patient's chart."""
    item = selectors.item_get(
        actor=actor, item_id=item_id, perm=roles.CHANGE_CLINICAL, request=request, record=False
    )
    note = _clean_text(note, label="note")
    if item.is_pharmacy_request:
        raise ValidationError(
            "A pharmacy's request is answered by the prescriber it was sent to; it cannot be forwarded."
        )
    to_user = _colleague(to_user_id)
    if to_user.pk == actor.pk:
        raise ValidationError({"to_user": "Pick someone else: the item is already yours."})
    if item.patient_id and not patient_access_for(to_user, item.patient_id).has(roles.VIEW_CLINICAL):
        name = to_user.get_full_name() or to_user.get_username()
        raise ValidationError(
            {"to_user": f"{name} cannot open this patient's chart: add them to the care team first."}
        )
    with transaction.atomic():
        item = _locked_open(item)
        item.assignee, item.state = to_user, State.NEW
        if item.escalated_to_id == to_user.pk:
            item.escalated_to = None
        item.save(update_fields=["assignee", "state", "escalated_to", "updated_at"])
        InboxEvent.objects.create(
            item=item,
            patient_id=item.patient_id,
            kind=EventKind.FORWARDED,
            actor=actor,
            to_user=to_user,
            note=note,
        )
        _record(
            actor=actor, item=item, action=Action.UPDATE, request=request, detail={"forwarded_to": to_user.pk}
        )
    return item


def _due(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, date):
        raise ValidationError({"due": "Give the due date as YYYY-MM-DD."})
    return timezone.make_aware(datetime.combine(value, time(17, 0)))


def task_create(*, actor, item_id, title: str, due=None, assignee_id=None, request=None) -> InboxItem:
    """A follow-up task from an item ("call patient", "repeat in 3 months"), due on a date, for the actor or a
    colleague who may open the chart. The task is an inbox item of its own, linked to the item it follows."""
    parent = selectors.item_get(
        actor=actor, item_id=item_id, perm=roles.CHANGE_CLINICAL, request=request, record=False
    )
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "Say what is to be done."})
    if len(title) > 300:
        raise ValidationError({"title": f"At most 300 characters ({len(title):,} given)."})
    due_at = _due(due)
    if due_at is not None and due_at.date() < timezone.localdate():
        raise ValidationError({"due": "The due date is in the past."})
    owner = actor if assignee_id in (None, "", str(actor.pk), actor.pk) else _colleague(assignee_id)
    if (
        owner != actor
        and parent.patient_id
        and not patient_access_for(owner, parent.patient_id).has(roles.VIEW_CLINICAL)
    ):
        raise ValidationError(
            {"assignee": "They cannot open this patient's chart: add them to the care team first."}
        )
    now = timezone.now()
    with transaction.atomic():
        task = InboxItem.objects.create(
            kind=Kind.TASK,
            patient=parent.patient,
            assignee=owner,
            title=title,
            parent=parent,
            created_by=actor,
            due_at=due_at,
            escalate_at=sources.escalate_at(Kind.TASK, start=now, due_at=due_at),
            link_name=parent.link_name,
            link_args=parent.link_args,
            link_url=parent.link_url,
        )
        InboxEvent.objects.create(
            item=task, patient_id=task.patient_id, kind=EventKind.POSTED, actor=actor, to_user=owner
        )
        InboxEvent.objects.create(
            item=parent,
            patient_id=parent.patient_id,
            kind=EventKind.TASK,
            actor=actor,
            to_user=owner,
            note=title,
        )
        _record(
            actor=actor, item=task, action=Action.CREATE, request=request, detail={"follows": str(parent.pk)}
        )
    return task


def patient_notify(*, actor, item_id, message: str, request=None) -> PatientNotice:
    """Record what the patient should be told about this item. There is no patient portal yet: the notice is
    kept and shown as pending delivery."""
    item = selectors.item_get(
        actor=actor, item_id=item_id, perm=roles.CHANGE_CLINICAL, request=request, record=False
    )
    if item.patient_id is None:
        raise ValidationError("This item matches no patient yet.")
    message = _clean_text(message, label="message", required=True)
    with transaction.atomic():
        notice = PatientNotice.objects.create(
            patient_id=item.patient_id,
            item=item,
            message=message,
            created_by=actor,
            status=NoticeStatus.PENDING,
        )
        InboxEvent.objects.create(
            item=item, patient_id=item.patient_id, kind=EventKind.NOTIFIED, actor=actor, note=message
        )
        _record(
            actor=actor,
            item=item,
            action=Action.CREATE,
            request=request,
            detail={"patient_notice": str(notice.pk)},
        )
    return notice
