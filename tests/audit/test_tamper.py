"""The audit trail is tamper-evident: the app cannot change rows (trigger), and audit_verify names the first
link broken by someone who could (a database superuser bypassing the trigger)."""

import datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import Error as DatabaseError
from django.test import override_settings
from django.utils import timezone

from audit import categories
from audit.models import AccessEvent, ChainLink
from audit.services import access_record, audit_link_chain, audit_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(clinician, patient):
    events = [
        access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
        for _ in range(5)
    ]
    assert audit_link_chain() >= 5
    result = audit_verify(link_first=False)
    assert result.ok, result
    return events


def superuser_sql(sql: str, params=()):
    """What only a database superuser can do: run with row triggers off (session_replication_role)."""
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        try:
            cur.execute(sql, params)
        finally:
            cur.execute("SET session_replication_role = origin")


def seq_of(event_id: int) -> int:
    return ChainLink.objects.get(event_id=event_id).seq


def test_app_cannot_update_or_delete_events(chain):
    ev = chain[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=ev.pk).update(category="nothing to see")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=ev.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ChainLink.objects.filter(event_id=ev.pk).update(content_hash="0" * 64)
    assert AccessEvent.objects.get(pk=ev.pk).category == categories.DEMOGRAPHICS
    assert audit_verify(link_first=False).ok


def test_edited_event_is_caught(chain):
    target = chain[2]
    superuser_sql("UPDATE audit_accessevent SET actor_username = 'someone.else' WHERE id = %s", [target.pk])
    result = audit_verify(link_first=False)
    assert not result.ok
    assert result.first_broken_event == target.pk
    assert result.first_broken_seq == seq_of(target.pk)
    assert "altered" in result.reason


def test_deleted_event_is_caught(chain):
    target = chain[1]
    superuser_sql("DELETE FROM audit_accessevent WHERE id = %s", [target.pk])
    result = audit_verify(link_first=False)
    assert not result.ok
    assert result.first_broken_event == target.pk
    assert "deleted" in result.reason


def test_reordered_links_are_caught(chain):
    a, b = seq_of(chain[1].pk), seq_of(chain[3].pk)
    # Swap the positions of two events in the chain (through a free seq, the primary key).
    superuser_sql("UPDATE audit_chainlink SET seq = -1 WHERE seq = %s", [a])
    superuser_sql("UPDATE audit_chainlink SET seq = %s WHERE seq = %s", [a, b])
    superuser_sql("UPDATE audit_chainlink SET seq = %s WHERE seq = -1", [b])
    result = audit_verify(link_first=False)
    assert not result.ok
    assert result.first_broken_seq == a
    assert "out of order" in result.reason


def test_reordered_event_times_are_caught(chain):
    # Moving an event in time (to bury it among others) changes its content hash.
    target = chain[3]
    superuser_sql(
        "UPDATE audit_accessevent SET occurred_at = occurred_at - interval '1 hour' WHERE id = %s",
        [target.pk],
    )
    result = audit_verify(link_first=False)
    assert not result.ok and result.first_broken_event == target.pk


@override_settings(AUDIT_LINK_MAX_LAG_SECONDS=60)
def test_events_left_unlinked_too_long_are_reported(chain, clinician, patient):
    late = AccessEvent(
        occurred_at=timezone.now() - datetime.timedelta(minutes=5),
        actor=clinician,
        actor_username=clinician.username,
        patient_id=patient.pk,
        action="view",
        category=categories.DEMOGRAPHICS,
    )
    late.save(force_insert=True)
    fresh = access_record(
        actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk
    )
    result = audit_verify(link_first=False)
    assert not result.ok
    assert result.unlinked_overdue == 1  # the fresh one is within the allowed lag
    assert "not linked" in result.reason
    assert not ChainLink.objects.filter(event_id__in=[late.pk, fresh.pk]).exists()
    # Once the linker ran, everything is in the chain again.
    assert audit_verify(link_first=True).ok


def test_audit_verify_command_ok_and_broken(chain, capsys):
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "checked" in out and "OK" in out

    superuser_sql("UPDATE audit_accessevent SET category = 'x' WHERE id = %s", [chain[0].pk])
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify")
    assert exc.value.returncode == 1
    assert "altered" in str(exc.value)
    out = capsys.readouterr().out
    assert f"seq {seq_of(chain[0].pk)}, event {chain[0].pk}" in out


@override_settings(AUDIT_LINK_MAX_LAG_SECONDS=60)
def test_audit_verify_command_reports_unlinked(chain, clinician, capsys):
    AccessEvent(
        occurred_at=timezone.now() - datetime.timedelta(minutes=5),
        actor=clinician,
        actor_username=clinician.username,
        action="view",
        category="x",
    ).save(force_insert=True)
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify", "--no-link")
    assert exc.value.returncode == 1
    assert "unlinked events older than the allowed lag: 1" in capsys.readouterr().out


def test_audit_link_command(clinician, capsys):
    access_record(actor=clinician, action="view", category="x")
    call_command("audit_link")
    assert "linked 1 events" in capsys.readouterr().out


# ------------------------------------------------------------------ the write log (django-auditlog) is in the chain
@pytest.fixture
def written(front_desk, patient):
    """A demographic change: one LogEntry, and its access event carrying the entry's hash."""
    from auditlog.models import LogEntry

    from patients.services import patient_update

    patient_update(actor=front_desk, patient_id=patient.pk, data={"given_name": "Mariana"})
    entry = LogEntry.objects.filter(object_pk=str(patient.pk)).latest("id")
    event = AccessEvent.objects.get(detail__log_entry=entry.pk)
    assert len(event.detail["log_entry_sha256"]) == 64
    audit_link_chain()
    assert audit_verify(link_first=False).ok
    return entry, event


def test_an_edited_write_log_entry_is_caught(written):
    entry, event = written
    superuser_sql(
        'UPDATE auditlog_logentry SET changes = \'{"given_name": ["Maria", "Someone"]}\' WHERE id = %s',
        [entry.pk],
    )
    result = audit_verify(link_first=False)
    assert not result.ok and result.first_broken_event == event.pk
    assert f"write-log entry {entry.pk}" in result.reason and "altered" in result.reason


def test_a_deleted_write_log_entry_is_caught(written):
    entry, event = written
    superuser_sql("DELETE FROM auditlog_logentry WHERE id = %s", [entry.pk])
    result = audit_verify(link_first=False)
    assert not result.ok and result.first_broken_event == event.pk and "deleted" in result.reason


@pytest.mark.parametrize(
    "sql", ["UPDATE auditlog_logentry SET object_repr = 'x'", "DELETE FROM auditlog_logentry"]
)
def test_triggers_refuse_changes_to_the_write_log_even_to_the_owner(written, sql):
    # (The test suite's own role is a superuser: only a deliberate bypass, session_replication_role, gets past.)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)


@pytest.mark.parametrize(
    "table",
    ["auditlog_logentry", "audit_accessevent", "audit_chainlink", "audit_accessevent_default", "partition"],
)
def test_triggers_refuse_truncate_even_to_the_owner(db, table):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT max(inhrelid::regclass::text) FROM pg_inherits "
            "WHERE inhparent = 'audit_accessevent'::regclass"
        )
        table = cur.fetchone()[0] if table == "partition" else table
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"TRUNCATE {table}")


# ------------------------------------------------------------------ checkpoints outside the database
@pytest.fixture
def anchored(settings, tmp_path, chain, django_capture_on_commit_callbacks):
    """The chain of `chain`, with a checkpoint written outside the database (as the linker does after commit)."""
    settings.AUDIT_ANCHOR_DIR = str(tmp_path)
    settings.AUDIT_ANCHOR_INTERVAL_SECONDS = 0
    from audit.services import audit_checkpoint

    checkpoint = audit_checkpoint(force=True)
    assert checkpoint["seq"] == ChainLink.objects.count() and checkpoint["continuous"] is True
    return checkpoint


def test_the_linker_writes_checkpoints_to_a_file_and_the_log(
    settings, tmp_path, clinician, patient, caplog, django_capture_on_commit_callbacks
):
    import json

    settings.AUDIT_ANCHOR_DIR = str(tmp_path)
    settings.AUDIT_ANCHOR_INTERVAL_SECONDS = 0
    import logging

    access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
    logger = logging.getLogger("audit.anchor")  # (not propagated to the root: shipped on its own)
    logger.addHandler(caplog.handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            audit_link_chain()
    finally:
        logger.removeHandler(caplog.handler)
    [folder] = list(tmp_path.iterdir())
    [file] = list(folder.glob("*.jsonl"))
    record = json.loads(file.read_text().splitlines()[-1])
    head = ChainLink.objects.order_by("-seq").first()
    assert (record["seq"], record["event_id"], record["chain_hash"]) == (
        head.seq,
        head.event_id,
        head.chain_hash,
    )
    assert record["count"] == head.seq and record["time"]
    assert any(
        "AUDIT-CHECKPOINT" in r.getMessage() and head.chain_hash in r.getMessage() for r in caplog.records
    )
    assert audit_verify(link_first=False).checkpoints == 1


def test_a_superuser_truncating_both_audit_tables_is_caught(anchored):
    superuser_sql("TRUNCATE audit_chainlink, audit_accessevent, audit_unlinked")
    assert not AccessEvent.objects.exists()
    result = audit_verify(link_first=False)
    assert not result.ok
    assert f"recorded link #{anchored['seq']}" in result.reason and "truncated" in result.reason


def test_deleting_the_newest_events_and_their_links_is_caught(anchored, chain):
    newest = ChainLink.objects.order_by("-seq")[:2]
    ids = [lk.event_id for lk in newest]
    superuser_sql("DELETE FROM audit_chainlink WHERE event_id = ANY(%s)", [ids])
    superuser_sql("DELETE FROM audit_accessevent WHERE id = ANY(%s)", [ids])
    result = audit_verify(link_first=False)
    assert not result.ok and "deleted or truncated" in result.reason


def test_a_rewritten_chain_differs_from_the_checkpoint(anchored, chain):
    # A superuser recomputes the whole chain after changing an event: every hash matches again, but not the
    # checkpoint kept outside.
    from audit.services import GENESIS, chain_hash, content_hash

    superuser_sql("UPDATE audit_accessevent SET actor_username = 'nobody' WHERE id = %s", [chain[0].pk])
    prev = GENESIS
    for lk in ChainLink.objects.order_by("seq"):
        ch = content_hash(AccessEvent.objects.get(pk=lk.event_id))
        new = chain_hash(prev, ch)
        superuser_sql(
            "UPDATE audit_chainlink SET content_hash = %s, prev_hash = %s, chain_hash = %s WHERE seq = %s",
            [ch, prev, new, lk.seq],
        )
        prev = new
    result = audit_verify(link_first=False)
    assert not result.ok and "differs from the checkpoint" in result.reason


def test_the_next_checkpoint_says_when_the_chain_was_cut(anchored, settings):
    from audit.services import audit_checkpoint

    superuser_sql("DELETE FROM audit_chainlink WHERE seq = %s", [anchored["seq"]])
    ChainLink.objects.create(
        seq=anchored["seq"],
        event_id=-1,
        event_time=timezone.now(),
        content_hash="0" * 64,
        prev_hash="0" * 64,
        chain_hash="f" * 64,
    )
    assert audit_checkpoint(force=True)["continuous"] is False


# ------------------------------------------------------------------ late commits
def test_an_event_committed_late_with_a_low_id_is_still_linked(chain, clinician, patient):
    # The linker is far past it (ids are allocated at insert, visible at commit: a long transaction commits late).
    top = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first()
    far = AccessEvent(
        id=top + 50_000,
        occurred_at=timezone.now(),
        actor=clinician,
        actor_username=clinician.username,
        patient_id=patient.pk,
        action="view",
        category="x",
    )
    far.save(force_insert=True)
    assert audit_link_chain() == 1
    late = AccessEvent(
        id=top + 10,
        occurred_at=timezone.now(),
        actor=clinician,
        actor_username=clinician.username,
        patient_id=patient.pk,
        action="view",
        category="late",
    )
    late.save(force_insert=True)
    assert audit_link_chain() == 1
    assert ChainLink.objects.filter(event_id=late.pk).exists()
    assert audit_verify(link_first=False).ok


def test_the_overdue_check_reads_the_queue_not_the_events(chain, django_assert_max_num_queries):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert audit_verify(link_first=False).ok
    overdue = [q["sql"] for q in ctx.captured_queries if "audit_unlinked" in q["sql"]]
    assert len(overdue) == 1 and "audit_accessevent" not in overdue[0]


def test_a_list_events_ids_are_stored_as_given_and_chained(clinician):
    """A list page's ids go to PostgreSQL as one array literal (audit.services._prep); ids in any other form take
    the field's own conversion, and a malformed one is refused before anything is written."""
    import uuid

    from django.core.exceptions import ValidationError

    many = [str(uuid.uuid4()) for _ in range(300)]
    upper = uuid.uuid4()
    listed = access_record(actor=clinician, action="list", category=categories.SCHEDULE, patient_ids=many)
    mixed = access_record(
        actor=clinician,
        action="list",
        category=categories.SCHEDULE,
        patient_ids=[many[0], str(upper).upper(), upper],
    )
    assert [str(p) for p in AccessEvent.objects.get(pk=listed.pk).patient_ids] == many
    assert [str(p) for p in AccessEvent.objects.get(pk=mixed.pk).patient_ids] == [
        many[0],
        str(upper),
        str(upper),
    ]
    assert AccessEvent.objects.filter(patient_ids__contains=[uuid.UUID(many[123])]).get() == listed
    before = AccessEvent.objects.count()
    for bad in (["not-a-uuid"], [many[0] + "," + many[1]], [many[0], "{" + many[1] + "},{" + many[2]]):
        with pytest.raises(ValidationError):
            access_record(actor=clinician, action="list", category=categories.SCHEDULE, patient_ids=bad)
    assert AccessEvent.objects.count() == before
    assert audit_link_chain() >= 2
    assert audit_verify(link_first=False).ok
