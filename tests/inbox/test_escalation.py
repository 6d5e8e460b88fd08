"""Escalation through the real Celery worker: the beat entry's task, run by the worker, hands items that sat past
their time to whoever covers the clinician (a colleague and the coverage team), marks them escalated, records it,
and never escalates one twice; items not yet due and done items stay as they are."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from inbox import escalation, selectors, services, tasks
from inbox.models import Coverage, EventKind, InboxEvent, InboxItem, Kind, Priority
from patients.services import care_team_grant
from tests.conftest import wait_until
from tests.inbox.conftest import post

pytestmark = [pytest.mark.worker]


def test_the_beat_task_escalates_overdue_items_to_the_coverage(
    transactional_db, celery_worker_proc, clinician, colleague, patient, team
):
    assert (
        settings.CELERY_BEAT_SCHEDULE["inbox-escalate"]["task"]
        == tasks.escalate.name
        == "inbox.tasks.escalate"
    )
    care_team_grant(patient=patient, user=colleague, care_role="Covering physician")
    Coverage.objects.create(clinician=clinician, covering=colleague, team=team)
    overdue = post(clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL, title="K 6.9")
    not_yet = post(clinician, patient, title="not yet due")
    done = post(clinician, patient, title="signed already")
    services.item_sign_off(actor=clinician, item_id=done.pk, comment="ok")
    past = timezone.now() - timedelta(minutes=5)
    InboxItem.objects.filter(pk__in=[overdue.pk, done.pk]).update(escalate_at=past)

    tasks.escalate.delay()
    wait_until(lambda: InboxItem.objects.get(pk=overdue.pk).escalated_at is not None, timeout=30)

    overdue.refresh_from_db()
    assert (overdue.escalated_to, overdue.team, overdue.assignee) == (colleague, team, clinician)
    [event] = InboxEvent.objects.filter(item=overdue, kind=EventKind.ESCALATED)
    assert (event.to_user, event.to_team) == (colleague, team) and "Bob Baker" in event.note
    assert InboxItem.objects.get(pk=not_yet.pk).escalated_at is None
    assert InboxItem.objects.get(pk=done.pk).escalated_at is None
    # The covering colleague and the team see it; the clinician keeps it too.
    assert overdue.pk in [i.pk for i in selectors.inbox_page(actor=colleague).items]
    assert overdue.pk in [i.pk for i in selectors.inbox_page(actor=clinician, queue=f"team:{team.pk}").items]
    assert overdue.pk in [i.pk for i in selectors.inbox_page(actor=clinician).items]
    # A second beat tick, with another item now overdue: that one is escalated, the first not again.
    InboxItem.objects.filter(pk=not_yet.pk).update(escalate_at=past)
    tasks.escalate.delay()
    wait_until(lambda: InboxItem.objects.get(pk=not_yet.pk).escalated_at is not None, timeout=30)
    assert InboxEvent.objects.filter(item=overdue, kind=EventKind.ESCALATED).count() == 1


def test_without_coverage_the_item_is_flagged_and_stays(clinician, patient):
    item = post(clinician, patient)
    InboxItem.objects.filter(pk=item.pk).update(escalate_at=timezone.now() - timedelta(seconds=1))
    assert escalation.items_escalate() == 1
    item.refresh_from_db()
    assert item.escalated_at is not None and item.escalated_to is None and item.assignee == clinician
    assert "no one covers" in InboxEvent.objects.get(item=item, kind=EventKind.ESCALATED).note


def test_an_overdue_task_escalates_a_day_after_its_due_date(settings, clinician, patient):
    settings.INBOX_ESCALATE_AFTER_MINUTES = {"task": 24 * 60, "result": None}
    item = post(clinician, patient)
    due = timezone.localdate() + timedelta(days=3)
    task = services.task_create(actor=clinician, item_id=item.pk, title="Call patient", due=due)
    assert task.escalate_at - task.due_at == timedelta(minutes=settings.INBOX_ESCALATE_AFTER_MINUTES["task"])
    assert escalation.items_escalate() == 0
    assert escalation.items_escalate(now=task.escalate_at - timedelta(seconds=1)) == 0
    assert escalation.items_escalate(now=task.escalate_at + timedelta(seconds=1)) == 1
    task.refresh_from_db()
    assert task.escalated_at is not None
