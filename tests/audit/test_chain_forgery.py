"""The application's database role cannot forge the audit chain (issue 18 #2).

As that role (a real connection, tests/audit/conftest.py) the database refuses a chain link that is not the exact
successor of the last one with hashes it recomputes, an access event backdated or future-dated, and a partition for
a far month (audit migration 0004). The one forgery left to that role, a well-formed link whose content hash is not
its event's, is caught by the linker, which then refuses to extend the chain and never writes a "continuous"
checkpoint over it, and by audit_verify."""

import logging

import psycopg2
import pytest
from django.db import connection

from audit import categories, chainguard
from audit.models import AccessEvent, ChainLink, UnlinkedEvent
from audit.services import (
    GENESIS,
    access_record,
    audit_checkpoint,
    audit_link_chain,
    audit_verify,
    chain_hash,
)

# Committed rows: the application role's connection must see them.
pytestmark = pytest.mark.django_db(transaction=True)

FAKE_CONTENT = "ab" * 32


@pytest.fixture
def anchors(settings, tmp_path):
    settings.AUDIT_ANCHOR_DIR = str(tmp_path)
    settings.AUDIT_ANCHOR_INTERVAL_SECONDS = 0
    return tmp_path


@pytest.fixture
def linked(anchors, clinician, patient):
    """Five events linked into the chain, and one more queued (unlinked)."""
    for _ in range(5):
        access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
    assert audit_link_chain() >= 5
    queued = access_record(
        actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk
    )
    return queued


def _head() -> tuple[int, str]:
    last = ChainLink.objects.order_by("-seq").values_list("seq", "chain_hash").first()
    return last or (0, GENESIS)


def _run(conn, sql: str, params=(), *, commit: bool = False):
    """Run `sql` on the application role's connection; rolled back unless `commit`. Returns the error text, or
    None when the database accepted it."""
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    except psycopg2.Error as exc:
        conn.rollback()
        return exc.pgerror or str(exc)
    if commit:
        conn.commit()
    else:
        conn.rollback()
    return None


LINK_SQL = (
    "INSERT INTO audit_chainlink (seq, event_id, event_time, content_hash, prev_hash, chain_hash, linked_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, now())"
)


def _link(seq, event, content, prev, chained):
    return [seq, event.pk, event.occurred_at, content, prev, chained]


def test_forged_links_are_refused_as_the_app_role(app_role_connection, linked):
    seq, prev = _head()
    queued = linked
    good = chain_hash(prev, FAKE_CONTENT)
    done = AccessEvent.objects.exclude(pk=queued.pk).order_by("pk").first()
    forgeries = {
        "a gap": _link(seq + 2, queued, FAKE_CONTENT, prev, good),
        "an earlier seq": _link(seq - 1, queued, FAKE_CONTENT, prev, good),
        "another predecessor": _link(
            seq + 1, queued, FAKE_CONTENT, GENESIS, chain_hash(GENESIS, FAKE_CONTENT)
        ),
        "a chain hash not recomputed": _link(seq + 1, queued, FAKE_CONTENT, prev, "f" * 64),
        "a content hash that is no hash": _link(seq + 1, queued, "x" * 64, prev, chain_hash(prev, "x" * 64)),
        "an event linked already": _link(seq + 1, done, FAKE_CONTENT, prev, good),
        "an event that does not exist": [seq + 1, 10**12, queued.occurred_at, FAKE_CONTENT, prev, good],
    }
    wrong_time = _link(seq + 1, queued, FAKE_CONTENT, prev, good)
    wrong_time[2] = queued.occurred_at.replace(year=2020)
    forgeries["another event time"] = wrong_time
    for name, params in forgeries.items():
        error = _run(app_role_connection, LINK_SQL, params)
        assert error and "refused" in error, name
    # The exact successor, hashes right, is what the linker (running as this role) writes: accepted.
    assert _run(app_role_connection, LINK_SQL, _link(seq + 1, queued, FAKE_CONTENT, prev, good)) is None
    assert _head() == (seq, prev)
    assert UnlinkedEvent.objects.filter(event_id=queued.pk).exists()


def test_backdated_and_future_events_are_refused_as_the_app_role(app_role_connection, linked):
    fields = [
        f for f in AccessEvent._meta.concrete_fields if not f.primary_key and f.attname != "occurred_at"
    ]
    template = AccessEvent(actor_username="forger", action="view", category="demographics")
    columns = ", ".join(["occurred_at", *(f.column for f in fields)])
    values = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO audit_accessevent ({columns}) VALUES ({{}}, {marks})"  # noqa: S608 (model's names)
    before = AccessEvent.objects.count()
    for when in ("now() - interval '1 day'", "now() - interval '2 years'", "now() + interval '1 hour'"):
        error = _run(app_role_connection, sql.format(when), values, commit=True)
        assert error and "refused" in error and "sets event times" in error, when
    assert AccessEvent.objects.count() == before
    # Now, as the product writes it (clock_timestamp()): accepted.
    assert _run(app_role_connection, sql.format("clock_timestamp()"), values) is None


def test_the_product_records_the_database_time(clinician, patient):
    ev = access_record(
        actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk
    )
    assert AccessEvent.objects.get(pk=ev.pk).occurred_at == ev.occurred_at


def test_far_partitions_are_refused_as_the_app_role(app_role_connection):
    for month in ("2099-01-01", "2000-01-01"):
        error = _run(app_role_connection, "SELECT audit_partition_ensure(%s)", [month], commit=True)
        assert error and "refused" in error, month
    error = _run(
        app_role_connection,
        "CREATE TABLE audit_accessevent_209902 PARTITION OF audit_accessevent "
        "FOR VALUES FROM ('2099-02-01') TO ('2099-03-01')",
        commit=True,
    )
    assert error and "permission denied" in error
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('audit_accessevent_209901'), to_regclass('audit_accessevent_200001')")
        assert cur.fetchone() == (None, None)
    # This month (made by the migration) is no error: the function still serves the beat task.
    assert _run(app_role_connection, "SELECT audit_partition_ensure(now()::date)") is None


@pytest.fixture
def audit_log(caplog):
    logger = logging.getLogger("audit")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_the_linker_refuses_to_extend_a_forged_link(
    app_role_connection, linked, clinician, patient, audit_log
):
    audit_checkpoint(force=True)
    seq, prev = _head()
    # The one forgery the database lets through: a well-formed successor whose content hash is not its event's.
    forged = _link(seq + 1, linked, FAKE_CONTENT, prev, chain_hash(prev, FAKE_CONTENT))
    assert _run(app_role_connection, LINK_SQL, forged, commit=True) is None
    later = access_record(
        actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk
    )
    chainguard._known_good.clear()

    assert audit_link_chain() == 0
    assert not ChainLink.objects.filter(event_id=later.pk).exists()
    assert any(
        "AUDIT-CHAIN-BROKEN" in r.getMessage() and f"link #{seq + 1}" in r.getMessage()
        for r in audit_log.records
    )
    checkpoint = audit_checkpoint(force=True)
    assert checkpoint["continuous"] is False and f"link #{seq + 1}" in checkpoint["reason"]
    result = audit_verify(link_first=True)
    assert not result.ok and result.first_broken_seq == seq + 1 and "altered" in result.reason


def test_the_linker_refuses_a_chain_that_differs_from_its_checkpoint(linked, audit_log):
    checkpoint = audit_checkpoint(force=True)
    assert checkpoint["continuous"] is True
    # Only a superuser (or the owner) can do this: rewrite the checkpointed link.
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        try:
            cur.execute(
                "UPDATE audit_chainlink SET chain_hash = %s WHERE seq = %s", ["e" * 64, checkpoint["seq"]]
            )
        finally:
            cur.execute("SET session_replication_role = origin")
    chainguard._known_good.clear()
    assert audit_link_chain() == 0
    assert UnlinkedEvent.objects.filter(event_id=linked.pk).exists()
    assert any(
        "AUDIT-CHAIN-BROKEN" in r.getMessage() and "checkpoint" in r.getMessage() for r in audit_log.records
    )
    assert not audit_verify(link_first=False).ok


def test_the_linker_extends_a_sound_chain(linked):
    audit_checkpoint(force=True)
    assert audit_link_chain() == 1
    assert ChainLink.objects.filter(event_id=linked.pk).exists()
    assert audit_verify(link_first=False).ok
    assert audit_checkpoint(force=True)["continuous"] is True


def test_temporary_tables_cannot_stand_in_for_the_catalog_or_the_chain(app_role_connection, linked):
    """The triggers name pg_catalog and public first and pg_temp last: a temporary pg_class saying the app role
    owns the chain, or a temporary audit_chainlink with another head, changes nothing."""
    seq, prev = _head()
    conn = app_role_connection
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE pg_class (oid oid, relowner oid)")
        cur.execute(
            "INSERT INTO pg_temp.pg_class SELECT c.oid, r.oid FROM pg_catalog.pg_class c, pg_roles r "
            "WHERE c.relname IN ('audit_chainlink', 'audit_accessevent') AND r.rolname = current_user"
        )
        cur.execute("CREATE TEMP TABLE audit_chainlink (seq bigint, chain_hash text)")
        cur.execute("INSERT INTO pg_temp.audit_chainlink VALUES (99, %s)", [GENESIS])
    forged = _link(100, linked, FAKE_CONTENT, GENESIS, chain_hash(GENESIS, FAKE_CONTENT))
    error = _run(conn, LINK_SQL.replace("audit_chainlink", "public.audit_chainlink"), forged)
    assert error and "refused" in error
    assert _head() == (seq, prev)
