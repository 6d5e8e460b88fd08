"""The inbox's rules: idempotent posting, sign-off with a comment, forwarding with history, follow-up tasks,
notifying the patient, opening (seen), each recorded."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import categories
from audit.models import AccessEvent
from inbox import selectors, services, sources
from inbox.models import EventKind, InboxEvent, InboxItem, Kind, NoticeStatus, PatientNotice, Priority, State
from patients.services import care_team_grant
from tests.audit.helpers import mark
from tests.inbox.conftest import post


# ------------------------------------------------------------------ posting
def test_posting_twice_makes_one_item(clinician, patient):
    first, created = sources.post_item(
        kind=Kind.RESULT, title="Glucose", source_ref="lab:42", patient=patient, assignee=clinician
    )
    again, created_again = sources.post_item(
        kind=Kind.RESULT, title="Glucose (re-sent)", source_ref="lab:42", patient=patient, assignee=clinician
    )
    assert created and not created_again and again.pk == first.pk
    assert InboxItem.objects.count() == 1 and InboxItem.objects.get().title == "Glucose"
    assert InboxEvent.objects.filter(kind=EventKind.POSTED).count() == 1
    # The same key under another kind is another item.
    sources.post_item(
        kind=Kind.RESULT_TO_SIGN, title="x", source_ref="lab:42", patient=patient, assignee=clinician
    )
    assert InboxItem.objects.count() == 2


def test_the_database_refuses_a_second_item_for_one_source(clinician, patient):
    post(clinician, patient, source_ref="lab:7")
    with pytest.raises(IntegrityError), transaction.atomic():
        InboxItem.objects.create(kind=Kind.RESULT, source_ref="lab:7", title="dup", assignee=clinician)
    # Hand-made tasks have no key: any number of them.
    for _ in range(2):
        InboxItem.objects.create(kind=Kind.TASK, source_ref="", title="Call", assignee=clinician)


def test_posting_needs_a_key_an_owner_and_a_known_kind(clinician):
    with pytest.raises(ValueError, match="source_ref"):
        sources.post_item(kind=Kind.RESULT, title="x", source_ref="", assignee=clinician)
    with pytest.raises(ValueError, match="assignee or a team"):
        sources.post_item(kind=Kind.RESULT, title="x", source_ref="a")
    with pytest.raises(ValueError, match="unknown"):
        sources.post_item(kind="fax", title="x", source_ref="a", assignee=clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        InboxItem.objects.create(kind=Kind.TASK, title="nobody's")


def test_escalation_time_comes_from_the_setting_per_kind(settings, clinician, patient):
    settings.INBOX_ESCALATE_AFTER_MINUTES = {"result": 5, "critical_result": None}
    before = timezone.now()
    normal = post(clinician, patient)
    critical = post(clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL)
    assert (
        before + datetime.timedelta(minutes=5)
        <= normal.escalate_at
        <= timezone.now() + datetime.timedelta(minutes=5)
    )
    assert critical.escalate_at is None


# ------------------------------------------------------------------ open, sign off
def test_opening_records_the_read_and_seen_clears_new(login, clinician, patient):
    from django.urls import reverse

    item = post(clinician, patient)
    since = mark()
    c = login(clinician)
    r = c.get(reverse("inbox:item", args=[item.pk]), HTTP_HX_REQUEST="true")
    assert reverse("inbox:seen", args=[item.pk]).encode() in r.content  # the panel posts "seen" when shown
    item.refresh_from_db()
    assert item.state == State.NEW  # a GET writes nothing but its access event
    [event] = AccessEvent.objects.filter(id__gt=since, actor=clinician, action="view")
    assert event.category == categories.INBOX and event.patient_id == patient.pk
    assert c.post(reverse("inbox:seen", args=[item.pk])).status_code == 204
    services.item_seen(actor=clinician, item_id=item.pk)
    item.refresh_from_db()
    assert item.state == State.SEEN
    assert InboxEvent.objects.filter(item=item, kind=EventKind.SEEN).count() == 1


def test_sign_off_with_a_comment(clinician, patient):
    item = post(clinician, patient, priority=Priority.ABNORMAL)
    since = mark()
    services.item_sign_off(actor=clinician, item_id=item.pk, comment="  Repeat in 3 months.  ")
    item.refresh_from_db()
    assert (item.state, item.completed_by, item.comment) == (State.DONE, clinician, "Repeat in 3 months.")
    assert item.completed_at is not None
    assert InboxEvent.objects.get(item=item, kind=EventKind.SIGNED).note == "Repeat in 3 months."
    assert AccessEvent.objects.filter(
        id__gt=since, actor=clinician, action="sign", category=categories.INBOX, patient_id=patient.pk
    ).exists()
    with pytest.raises(ValidationError, match="already done"):
        services.item_sign_off(actor=clinician, item_id=item.pk, comment="again")
    # Done items leave the queue.
    assert selectors.inbox_page(actor=clinician).items == []


def test_a_critical_result_is_not_signed_off_without_a_comment(clinician, patient):
    item = post(clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL)
    with pytest.raises(ValidationError, match="Write a few words"):
        services.item_sign_off(actor=clinician, item_id=item.pk, comment="   ")
    item.refresh_from_db()
    assert item.state == State.NEW and item.completed_at is None


def test_a_comment_too_long_is_refused_not_cut(clinician, patient):
    item = post(clinician, patient)
    with pytest.raises(ValidationError, match="At most 2,000"):
        services.item_sign_off(actor=clinician, item_id=item.pk, comment="x" * 2001)
    item.refresh_from_db()
    assert item.state == State.NEW


def test_a_pharmacy_request_is_answered_on_its_page_not_here(clinician, colleague, patient):
    item = post(clinician, patient, kind=Kind.RENEWAL_REQUEST)
    with pytest.raises(ValidationError, match="on its page"):
        services.item_sign_off(actor=clinician, item_id=item.pk, comment="ok")
    with pytest.raises(ValidationError, match="cannot be forwarded"):
        services.item_forward(actor=clinician, item_id=item.pk, to_user_id=colleague.pk)
    assert InboxItem.objects.get(pk=item.pk).state == State.NEW


# ------------------------------------------------------------------ forward
def test_forward_to_a_colleague_keeps_the_history(clinician, colleague, nurse, patient):
    care_team_grant(patient=patient, user=colleague, care_role="Covering physician")
    item = post(clinician, patient, priority=Priority.ABNORMAL)
    services.item_seen(actor=clinician, item_id=item.pk)
    services.item_forward(actor=clinician, item_id=item.pk, to_user_id=colleague.pk, note="Your patient now")
    item.refresh_from_db()
    assert item.assignee == colleague and item.state == State.NEW
    assert [i.pk for i in selectors.inbox_page(actor=colleague).items] == [item.pk]
    assert selectors.inbox_page(actor=clinician).items == []
    # And on to the nurse: both hops stay in the history.
    services.item_forward(actor=colleague, item_id=item.pk, to_user_id=nurse.pk, note="Please call her")
    hops = list(InboxEvent.objects.filter(item=item, kind=EventKind.FORWARDED).order_by("at"))
    assert [(e.actor, e.to_user, e.note) for e in hops] == [
        (clinician, colleague, "Your patient now"),
        (colleague, nurse, "Please call her"),
    ]


def test_forward_to_someone_who_cannot_open_the_chart_is_refused_by_name(clinician, colleague, patient):
    item = post(clinician, patient)
    with pytest.raises(ValidationError, match="Bob Baker cannot open this patient's chart"):
        services.item_forward(actor=clinician, item_id=item.pk, to_user_id=colleague.pk)
    with pytest.raises(ValidationError, match="Pick a clinician or nurse"):
        services.item_forward(actor=clinician, item_id=item.pk, to_user_id="nobody")
    assert InboxItem.objects.get(pk=item.pk).assignee == clinician
    assert not InboxEvent.objects.filter(kind=EventKind.FORWARDED).exists()


def test_front_desk_is_not_a_forward_target(clinician, front_desk, patient):
    item = post(clinician, patient)
    with pytest.raises(ValidationError, match="Pick a clinician or nurse"):
        services.item_forward(actor=clinician, item_id=item.pk, to_user_id=front_desk.pk)


# ------------------------------------------------------------------ follow-up tasks
def test_follow_up_task_with_a_due_date(clinician, nurse, patient):
    item = post(clinician, patient, priority=Priority.ABNORMAL)
    due = timezone.localdate() + datetime.timedelta(days=91)
    task = services.task_create(
        actor=clinician, item_id=item.pk, title="Repeat test in 3 months", due=due, assignee_id=nurse.pk
    )
    assert (task.kind, task.patient, task.assignee, task.parent, task.created_by) == (
        Kind.TASK,
        patient,
        nurse,
        item,
        clinician,
    )
    assert timezone.localtime(task.due_at).date() == due
    assert task.escalate_at > task.due_at  # escalates once it is overdue, not before
    assert InboxEvent.objects.get(item=item, kind=EventKind.TASK).note == "Repeat test in 3 months"
    assert [i.pk for i in selectors.inbox_page(actor=nurse).items] == [task.pk]
    # The original item is still open: a task does not sign it off.
    assert InboxItem.objects.get(pk=item.pk).state != State.DONE


def test_task_refusals_save_nothing(clinician, patient):
    item = post(clinician, patient)
    with pytest.raises(ValidationError, match="Say what"):
        services.task_create(actor=clinician, item_id=item.pk, title="  ")
    with pytest.raises(ValidationError, match="in the past"):
        services.task_create(
            actor=clinician,
            item_id=item.pk,
            title="Call",
            due=timezone.localdate() - datetime.timedelta(days=1),
        )
    assert not InboxItem.objects.filter(kind=Kind.TASK).exists()


# ------------------------------------------------------------------ notify the patient
def test_notify_the_patient_is_kept_pending_delivery(clinician, patient):
    item = post(clinician, patient)
    notice = services.patient_notify(actor=clinician, item_id=item.pk, message="Your glucose is normal.")
    assert (notice.status, notice.patient, notice.created_by) == (NoticeStatus.PENDING, patient, clinician)
    [row] = selectors.inbox_page(actor=clinician).items
    assert row.notice_pending
    with pytest.raises(ValidationError):
        services.patient_notify(actor=clinician, item_id=item.pk, message="")
    assert PatientNotice.objects.count() == 1
