"""Audit events and their hash chain, built with the product's own hash functions."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from django.db import connection

from .. import sizes
from ..copy import copy_lines
from .base import HOT_PATIENT_EVENT_SHARE, SeedContext, is_superuser, register
from .charts import patients_load

# ------------------------------------------------------------------ audit events and their hash chain
AUDIT_COLUMNS = [
    "id",
    "occurred_at",
    "actor_id",
    "actor_username",
    "patient_id",
    "patient_ids",
    "action",
    "category",
    "outcome",
    "source_ip",
    "break_glass",
    "channel",
    "request_id",
    "detail",
]
LINK_COLUMNS = ["seq", "event_id", "event_time", "content_hash", "prev_hash", "chain_hash", "linked_at"]


def audit_partitions_for(start: date, end: date) -> list[str]:
    """Monthly partitions of audit_accessevent covering [start, end], made through the product's SECURITY DEFINER
    function audit_partition_ensure (the application role owns no table), before the load, so no seeded row lands
    in the default partition."""
    from audit.services import audit_ensure_partitions

    made = audit_ensure_partitions()
    month = start.replace(day=1)
    with connection.cursor() as cur:
        while month <= end:
            cur.execute("SELECT audit_partition_ensure(%s)", [month])
            if cur.fetchone()[0]:
                made.append(f"audit_accessevent_{month:%Y%m}")
            month = (month + timedelta(days=32)).replace(day=1)
    return sorted(made)


@register(name="audit", order=50)
def seed_audit(ctx: SeedContext) -> int:
    """seed_audit_history as the owner role when one is configured (DATABASE_MIGRATE_URL): the database refuses
    backdated events, links it did not check and far partitions from the application's role (audit migration
    0004), and trusts the tables' owner."""
    from django.conf import settings

    if not settings.DATABASE_MIGRATE_URL:
        return seed_audit_history(ctx)
    from audit.dbroles import as_owner

    try:
        with as_owner(connection, settings.DATABASE_MIGRATE_URL):
            with connection.cursor() as cur:
                cur.execute("SET synchronous_commit = off")
            return seed_audit_history(ctx)
    finally:
        with connection.cursor() as cur:  # a new session: seed_run's settings again
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET ehr.chart_version_bump = 'off'")


def seed_audit_history(ctx: SeedContext) -> int:
    """Access events over AUDIT_MONTHS months, in time order (ids grow with time, as in production): chart views
    (one patient), searches and lists (1-20 patients in patient_ids), writes, a few denials and break-the-glass;
    and their hash chain (audit_chainlink), computed with audit.services.content_hash / chain_hash exactly as the
    linker would, appended after the chain's current head (checked first as the linker checks it, audit/chainguard.py)
    and checkpointed outside the database after (audit/anchor.py). The linker's queue (audit_unlinked) ends empty,
    as on a system whose linker keeps up."""
    n = ctx.counts.get("audit_events", 0)
    if not n:
        return 0
    patients_load(ctx)
    from audit import anchor, chainguard
    from audit.services import _LINK_LOCK, chain_hash, content_hash

    # Events the seed's own ORM writes queued (reference rows: rooms, appointment types ...) are linked first by
    # the product's linker, so the history below is appended after them and the queue ends empty.
    audit_link(out=lambda *_: None)

    ids = ctx.patient_ids
    if not ids:
        ctx.note("audit skipped: no patients")
        return 0
    hot = ctx.bench_ids.get("Thousand")
    end = datetime.now(UTC) - timedelta(minutes=5)
    start = end - timedelta(days=round(sizes.AUDIT_MONTHS * 30.44))
    made = audit_partitions_for(start.date(), end.date())
    if made:
        ctx.out(f"  created partitions {made[0]} .. {made[-1]}")
    rng = ctx.rng
    actors = [(ctx.clinician.pk, ctx.clinician.username)] + [(p.pk, p.username) for p in ctx.providers]
    actor_cum = []
    s = 0.0
    for i in range(len(actors)):
        s += 1.0 / (i + 1) ** 0.5
        actor_cum.append(s)
    view_cats = ["chart summary"] * 6 + [
        "encounter",
        "clinical note",
        "medication list",
        "vital signs",
        "problem list",
        "allergy list",
        "appointments",
        "demographics",
    ]
    t0 = start.timestamp()
    span = end.timestamp() - t0
    n_ids = len(ids)
    random_ = rng.random
    getrandbits = rng.getrandbits
    linked_at = datetime.now(UTC).isoformat()

    # Event ids from the table's sequence, and the chain's head, before the COPY thread owns the connection.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('audit_accessevent', 'id')")
        seq_name = cur.fetchone()[0]
        event_ids: list[int] = []
        while len(event_ids) < n:
            cur.execute(
                f"SELECT nextval('{seq_name}') FROM generate_series(1, %s)",
                [min(200_000, n - len(event_ids))],
            )
            event_ids += [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_advisory_lock(%s)", [_LINK_LOCK])  # the linker must not append meanwhile
    try:  # the chain the seed extends must be sound (as the linker checks it), and is checkpointed after
        head = chainguard.check_before_extending(anchor.database_identity(), content_hash)
    except Exception:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [_LINK_LOCK])
        raise
    link_seq, prev = head.seq, head.chain_hash
    links: list[str] = []

    def pick() -> str:
        if hot and random_() < HOT_PATIENT_EVENT_SHARE:
            return hot
        # skewed: a small share of patients (chronic care) is opened far more often
        return ids[int(n_ids * random_() ** 2.5)]

    def lines():
        nonlocal link_seq, prev
        for i in range(n):
            at = datetime.fromtimestamp(t0 + span * (i + random_()) / n, UTC)
            aid, aname = (
                actors[rng.choices(range(len(actors)), cum_weights=actor_cum)[0]]
                if random_() < 0.97
                else (ctx.privacy.pk, ctx.privacy.username)
            )
            r = random_()
            pid, pids, detail = None, [], {}
            if r < 0.75:
                action, cat, pid = "view", view_cats[int(random_() * len(view_cats))], pick()
            elif r < 0.90:
                action, cat = "list", "patient list"
                pids = [pick() for _ in range(1 + int(random_() * 20))]
                detail = {"query_kind": "name"}
            elif r < 0.98:
                action, cat, pid = ("update" if r < 0.95 else "create"), "encounter", pick()
            else:
                action, cat, pid = ("print" if r < 0.99 else "export"), "chart summary", pick()
            ev = SimpleNamespace(
                id=event_ids[i],
                occurred_at=at,
                actor_id=aid,
                actor_username=aname,
                patient_id=pid,
                patient_ids=pids,
                action=action,
                category=cat,
                outcome="denied" if random_() < 0.01 else "success",
                source_ip=f"10.{getrandbits(8)}.{getrandbits(8)}.{getrandbits(8)}",
                break_glass=random_() < 0.0005,
                channel="ui" if random_() < 0.9 else ("api" if random_() < 0.5 else "task"),
                request_id=uuid.UUID(int=getrandbits(128), version=4),
                detail=detail,
            )
            ts = at.isoformat()
            ch = content_hash(ev)
            link_seq += 1
            new = chain_hash(prev, ch)
            links.append(f"{link_seq}\t{ev.id}\t{ts}\t{ch}\t{prev}\t{new}\t{linked_at}\n")
            prev = new
            yield (
                f"{ev.id}\t{ts}\t{aid}\t{aname}\t{pid or chr(92) + 'N'}\t{{{','.join(pids)}}}\t{action}\t{cat}\t"
                f"{ev.outcome}\t{ev.source_ip}\t{'t' if ev.break_glass else 'f'}\t{ev.channel}\t{ev.request_id}\t"
                f"{json.dumps(detail)}\n"
            )

    def link_lines():
        while links:
            yield from links[:]
            links.clear()

    replica = is_superuser()
    try:
        with connection.cursor() as cur:
            if replica:
                # The queue trigger would add each event to audit_unlinked and the link trigger remove it again:
                # the end state is the same (queue empty), so a superuser skips both for speed.
                cur.execute("SET session_replication_role = replica")
        written = 0
        batch = 200_000
        gen = lines()
        for lo in range(0, n, batch):  # events then their links, a batch at a time (links wait in memory)
            part = itertools.islice(gen, min(batch, n - lo))
            written += copy_lines("audit_accessevent", AUDIT_COLUMNS, part)
            copy_lines("audit_chainlink", LINK_COLUMNS, link_lines())
        ctx.loaded("audit_accessevent", written)
        ctx.loaded("audit_chainlink", written)
        if written:
            anchor.checkpoint_write(seq=link_seq, event_id=event_ids[-1], chain_hash=prev, continuous=True)
            chainguard.extended(anchor.database_identity(), chainguard.Head(link_seq, prev))
    finally:
        with connection.cursor() as cur:
            if replica:
                cur.execute("SET session_replication_role = origin")
            cur.execute("SELECT pg_advisory_unlock(%s)", [_LINK_LOCK])
    return written


def audit_link(*, out=print) -> int:
    """Link every queued event into the hash chain with the product's own linker (events the bench recorded)."""
    from audit.services import audit_link_chain

    total = 0
    t0 = time.perf_counter()
    while True:
        n = audit_link_chain(batch=5000, max_batches=100)
        total += n
        if n:
            out(f"  linked {total:,} events ({total / (time.perf_counter() - t0):,.0f}/s)")
        if n < 5000 * 100:
            return total
