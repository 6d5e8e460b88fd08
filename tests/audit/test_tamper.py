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
    events = [access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
              for _ in range(5)]
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
    superuser_sql("UPDATE audit_accessevent SET occurred_at = occurred_at - interval '1 hour' WHERE id = %s",
                  [target.pk])
    result = audit_verify(link_first=False)
    assert not result.ok and result.first_broken_event == target.pk


@override_settings(AUDIT_LINK_MAX_LAG_SECONDS=60)
def test_events_left_unlinked_too_long_are_reported(chain, clinician, patient):
    late = AccessEvent(occurred_at=timezone.now() - datetime.timedelta(minutes=5), actor=clinician,
                       actor_username=clinician.username, patient_id=patient.pk, action="view",
                       category=categories.DEMOGRAPHICS)
    late.save(force_insert=True)
    fresh = access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
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
    AccessEvent(occurred_at=timezone.now() - datetime.timedelta(minutes=5), actor=clinician,
                actor_username=clinician.username, action="view", category="x").save(force_insert=True)
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify", "--no-link")
    assert exc.value.returncode == 1
    assert "unlinked events older than the allowed lag: 1" in capsys.readouterr().out


def test_audit_link_command(clinician, capsys):
    access_record(actor=clinician, action="view", category="x")
    call_command("audit_link")
    assert "linked 1 events" in capsys.readouterr().out
