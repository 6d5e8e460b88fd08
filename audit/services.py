"""Writes of the audit trail. Every other app records through `access_record`; nothing else inserts events."""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.actors import STAFF, Actor

from . import anchor, chainguard
from .chainguard import GENESIS, chain_hash
from .models import AccessEvent, Action, ChainLink, Outcome, UnlinkedEvent

log = logging.getLogger("audit")

_LINK_LOCK = 7_304_211  # pg advisory lock key: one linker at a time, never a request


def _ip(value: str | None) -> str | None:
    value = (value or "").strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The address the request came from (ASTM E2147 "source").

    Directly exposed (TRUSTED_PROXY_COUNT = 0): REMOTE_ADDR; a client's X-Forwarded-For is ignored, it can say
    anything. Behind N trusted proxies (BEHIND_PROXY sets 1): the right-most address that none of them added,
    i.e. the N-th from the right of X-Forwarded-For + REMOTE_ADDR. Entries left of it were written by the client
    and prove nothing. A malformed hop falls back to REMOTE_ADDR.
    """
    if request is None:
        return None
    remote = _ip(request.META.get("REMOTE_ADDR"))
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [h.strip() for h in forwarded.split(",") if h.strip()] + [request.META.get("REMOTE_ADDR", "")]
    chosen = hops[-(trusted + 1)] if len(hops) > trusted else hops[0]
    return _ip(chosen) or remote


def access_record(
    *,
    actor,
    action: str,
    category: str,
    patient_id: uuid.UUID | str | None = None,
    patient_ids: Iterable | None = None,
    outcome: str = Outcome.SUCCESS,
    request=None,
    break_glass: bool = False,
    channel: str | None = None,
    detail: dict | None = None,
    source_ip: str | None = None,
) -> AccessEvent:
    """Append one access event (ASTM E2147). Cheap: a single INSERT, no lock, no read.
    `source_ip` is for callers without the request (the write log's receiver); otherwise it comes from it.

    Runs in its own savepoint-free autocommit context when called outside a transaction; inside one, the event
    commits or rolls back with the work it describes (a denied attempt is recorded outside any transaction).
    """
    event = _event(
        actor=actor,
        action=action,
        category=category,
        patient_id=patient_id,
        patient_ids=patient_ids,
        outcome=outcome,
        request=request,
        break_glass=break_glass,
        channel=channel,
        detail=detail,
    )
    if source_ip and event.source_ip is None:
        event.source_ip = _ip(source_ip)
    _task_name(event)
    _insert(event)
    return event


def _task_name(event: AccessEvent) -> None:
    """An event without a user recorded while a Celery task runs names the task (detail "task"), so the reports
    can say which background job it was ("System (background task: appointment reminders)")."""
    if event.actor_id is not None:
        return
    from celery import current_task

    name = getattr(current_task, "name", None) if current_task else None
    if name and "task" not in (event.detail or {}):
        event.detail = {**(event.detail or {}), "task": str(name)}


@functools.cache
def _insert_statement() -> tuple[list, str]:
    """The event's time is the database's clock (clock_timestamp()), read back with the id: a trigger refuses a
    supplied time far from it (migrations/0004), so no role can backdate an event."""
    quote = connection.ops.quote_name
    fields = [
        f for f in AccessEvent._meta.concrete_fields if not f.primary_key and f.attname != "occurred_at"
    ]
    # concrete fields all have a column
    columns = ", ".join([quote("occurred_at"), *(quote(cast(str, f.column)) for f in fields)])
    marks = ", ".join(["pg_catalog.clock_timestamp()", *(["%s"] * len(fields))])
    table, pk = quote(AccessEvent._meta.db_table), quote(cast(str, AccessEvent._meta.pk.column))
    returning = f"RETURNING {pk}, {quote('occurred_at')}"
    return fields, f"INSERT INTO {table} ({columns}) VALUES ({marks}) {returning}"  # noqa: S608 (model's names)


# A uuid in its canonical text form (what str(uuid.UUID) writes and PostgreSQL's uuid_out reads back).
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _prep(field, value):
    """A field's value for the INSERT. patient_ids, when every id is a canonical uuid string (a list page's
    hundreds of ids are), goes as one array literal that PostgreSQL parses: through the field, each id was parsed
    into a uuid.UUID and adapted on its own (~3 ms for a 382-row day list). Anything else takes the field's own
    get_db_prep_save, which rejects a malformed id as save() would."""
    if field.attname == "patient_ids" and value and all(map(_CANONICAL_UUID.fullmatch, value)):
        return "{" + ",".join(value) + "}"
    return field.get_db_prep_save(value, connection)


def _insert(event: AccessEvent) -> None:
    """event.save(force_insert=True), written once: every page view of patient data pays for this INSERT, and the
    ORM compiled the same statement anew each time (~0.4 ms; docs/benchmark.md). Values go through each field's
    own get_db_prep_save, as save() does (but see _prep); AccessEvent has no save() override and no signal
    receivers."""
    fields, sql = _insert_statement()
    with connection.cursor() as cur:
        cur.execute(sql, [_prep(f, getattr(event, f.attname)) for f in fields])
        event.pk, event.occurred_at = cur.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


def access_record_denied(*, actor, category: str, patient_id=None, request=None, detail=None) -> None:
    """A refused attempt is evidence too. Services check access before they open their transaction, so this
    event is committed even though the refused operation never starts."""
    access_record(
        actor=actor,
        action=Action.VIEW,
        category=category,
        patient_id=patient_id,
        outcome=Outcome.DENIED,
        request=request,
        detail=detail,
    )


def _who(actor) -> tuple:
    """(actor, user account or None, actor kind, on behalf of) of what the caller passed: an Actor, a user account
    (staff, as core.actors.as_actor reads it), a name or None (no actor: "")."""
    kind, on_behalf_of = "", None
    if isinstance(actor, Actor):
        kind, on_behalf_of, actor = actor.kind, actor.on_behalf_of, actor.user
    user = actor if getattr(actor, "is_authenticated", False) else None
    return actor, user, (kind or STAFF) if user is not None else kind, on_behalf_of


def _event(
    *, actor, action, category, patient_id, patient_ids, outcome, request, break_glass, channel, detail
) -> AccessEvent:
    actor, user, kind, on_behalf_of = _who(actor)
    if channel is None:
        channel = getattr(request, "audit_channel", None) or ("ui" if request is not None else "task")
    ids = [str(p) for p in (patient_ids or [])]
    event = AccessEvent(
        occurred_at=timezone.now(),
        actor=user,
        actor_username=user.get_username() if user else (str(actor) if actor else "system"),
        actor_kind=kind,
        on_behalf_of=on_behalf_of,
        patient_id=patient_id,
        patient_ids=ids,
        action=action,
        category=category,
        outcome=outcome,
        source_ip=client_ip(request),
        break_glass=break_glass,
        channel=channel,
        detail=detail or {},
    )
    if request is not None:
        event.detail.setdefault("path", request.path[:300])
        event.request_id = getattr(request, "audit_request_id", None) or event.request_id
    event.detail = _printable(event.detail)
    event.actor_username = _printable(event.actor_username)
    return event


# Control characters in what the audit stores as text (a path, a search term): NUL would fail the INSERT (and lose
# the event), the others could forge lines in an exported report. Written escaped, as \xNN.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value):
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value) if _CONTROL.search(value) else value
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


# ------------------------------------------------------------------ the hash chain
def event_canonical(ev: AccessEvent) -> bytes:
    """The bytes whose SHA-256 is an event's content hash. Any change to a stored field changes them."""
    data = {
        "id": ev.id,
        "occurred_at": ev.occurred_at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor_id": ev.actor_id,
        "actor_username": ev.actor_username,
        "patient_id": str(ev.patient_id) if ev.patient_id else None,
        "patient_ids": sorted(str(p) for p in ev.patient_ids),
        "action": ev.action,
        "category": ev.category,
        "outcome": ev.outcome,
        "source_ip": ev.source_ip,
        "break_glass": ev.break_glass,
        "channel": ev.channel,
        "request_id": str(ev.request_id),
        "detail": ev.detail,
    }
    # Added with actor kinds: hashed only when set, so an event recorded before them hashes as it did (and adding
    # or removing a value still changes the hash).
    # (getattr: the bench seeder hashes plain namespaces built without them, bench/seeders.py.)
    if kind := getattr(ev, "actor_kind", ""):
        data["actor_kind"] = kind
    if behalf := getattr(ev, "on_behalf_of", None):
        data["on_behalf_of"] = str(behalf)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def content_hash(ev: AccessEvent) -> str:
    return hashlib.sha256(event_canonical(ev)).hexdigest()


def log_entry_canonical(entry) -> bytes:
    """The bytes whose SHA-256 is a write-log entry's (django-auditlog LogEntry) hash. The access event made
    from the entry carries this hash (audit/signals.py), so the entry's content is part of the chain."""
    data = {
        "id": entry.pk,
        "content_type_id": entry.content_type_id,
        "object_pk": entry.object_pk,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "serialized_data": entry.serialized_data,
        "action": entry.action,
        "changes_text": entry.changes_text,
        "changes": entry.changes,
        "actor_id": entry.actor_id,
        "actor_email": entry.actor_email,
        "cid": entry.cid,
        "remote_addr": entry.remote_addr,
        "remote_port": entry.remote_port,
        "timestamp": entry.timestamp.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "additional_data": entry.additional_data,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def log_entry_hash(entry) -> str:
    return hashlib.sha256(log_entry_canonical(entry)).hexdigest()


def audit_link_chain(*, batch: int = 5000, max_batches: int = 100) -> int:
    """Link committed, unlinked events into the chain. Returns how many were linked.

    The work queue is `audit_unlinked` (kept by triggers: an event is queued on insert and leaves the queue when
    its link is inserted), so an event committed late, with an id far below the newest linked one, is linked like
    any other; nothing is found by id windows. Events are linked in id order within a batch.
    Only one linker runs (a session advisory lock); requests never wait for it. Called every two seconds by
    Celery beat, and by audit_verify before it checks. After linking, a checkpoint goes outside the database
    (audit/anchor.py) at most every AUDIT_ANCHOR_INTERVAL_SECONDS.
    """
    linked = 0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_LINK_LOCK])
        if not cur.fetchone()[0]:
            return 0
    identity = anchor.database_identity()
    try:
        for _ in range(max_batches):
            with transaction.atomic():
                n, more = _link_batch(identity, batch)
            linked += n
            if not more:
                break
    except chainguard.ChainBroken as exc:
        chainguard.refuse(exc)
        return linked
    except DatabaseError as exc:  # e.g. a link inserted by someone else meanwhile: checked on the next run
        log.error("AUDIT-CHAIN the linker's batch was refused by the database: %s", exc)
        return linked
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [_LINK_LOCK])
    # After commit: a checkpoint of a rolled-back link (in a test's transaction) would be a false alarm later.
    transaction.on_commit(audit_checkpoint)
    return linked


def _link_batch(identity: str, batch: int) -> tuple[int, bool]:
    """One batch of the linker, in the caller's transaction: (links written, whether more may be queued).
    Checks the chain before extending it (audit/chainguard.py); raises ChainBroken."""
    top = chainguard.check_before_extending(identity, content_hash)
    seq, prev = top.seq, top.chain_hash
    queued = list(UnlinkedEvent.objects.order_by("event_id").values_list("event_id", "occurred_at")[:batch])
    if not queued:
        return 0, False
    times = [t for _, t in queued]
    # The time bounds let PostgreSQL read only the partitions concerned.
    events = list(
        AccessEvent.objects.filter(
            id__in=[i for i, _ in queued],
            occurred_at__gte=min(times),
            occurred_at__lte=max(times),
        ).order_by("id")
    )
    links = []
    for ev in events:
        seq += 1
        ch = content_hash(ev)
        new = chain_hash(prev, ch)
        links.append(
            ChainLink(
                seq=seq,
                event_id=ev.id,
                event_time=ev.occurred_at,
                content_hash=ch,
                prev_hash=prev,
                chain_hash=new,
            )
        )
        prev = new
    # A queued event that no longer exists (removed by someone who bypassed the triggers) stays
    # queued: audit_verify reports it as overdue.
    ChainLink.objects.bulk_create(links)
    transaction.on_commit(lambda: chainguard.extended(identity, chainguard.Head(seq, prev)))
    return len(links), len(queued) == batch and bool(links)


def audit_checkpoint(*, force: bool = False) -> dict | None:
    """Write a checkpoint of the chain's head outside the database if it moved since the last one and the
    interval has passed (or `force`). Before writing, check that the previous checkpoint still matches the chain
    and every link since follows it and hashes its event (audit/chainguard.py): if not, the new line says so
    (continuous=false, with the reason) and an error is logged; never "continuous" across a gap or a forgery."""
    identity = anchor.database_identity()
    if not force and not anchor.checkpoint_due(identity):
        return None
    head = ChainLink.objects.order_by("-seq").values("seq", "event_id", "chain_hash").first()
    previous = anchor.checkpoint_last(identity)
    if head is None or (previous and previous.get("seq") == head["seq"] and not force):
        return None
    reason = ""
    try:
        chainguard.check_before_extending(identity, content_hash)
    except chainguard.ChainBroken as exc:
        chainguard.refuse(exc)
        reason = str(exc)
    return anchor.checkpoint_write(
        seq=head["seq"],
        event_id=head["event_id"],
        chain_hash=head["chain_hash"],
        continuous=not reason,
        identity=identity,
        reason=reason,
    )


@dataclass
class VerifyResult:
    checked: int
    ok: bool
    first_broken_seq: int | None = None
    first_broken_event: int | None = None
    reason: str = ""
    unlinked_overdue: int = 0
    checkpoints: int = 0


def _log_entries_broken(links, events) -> tuple[ChainLink, str] | None:
    """The first link whose event names a write-log entry that was altered or deleted since it was chained."""
    from auditlog.models import LogEntry

    wanted = {}
    for lk in links:
        ev = events.get(lk.event_id)
        detail = (ev.detail or {}) if ev else {}
        if "log_entry" in detail and "log_entry_sha256" in detail:
            wanted[lk.seq] = (lk, detail["log_entry"], detail["log_entry_sha256"])
    if not wanted:
        return None
    entries = LogEntry.objects.in_bulk([v[1] for v in wanted.values()])
    for seq in sorted(wanted):
        lk, entry_id, digest = wanted[seq]
        entry = entries.get(entry_id)
        if entry is None:
            return lk, f"write-log entry {entry_id} (event {lk.event_id}) was deleted"
        if log_entry_hash(entry) != digest:
            return lk, f"write-log entry {entry_id} (event {lk.event_id}) was altered"
    return None


def _link_fault(lk: ChainLink, *, prev: str, events: dict, expected: dict) -> str | None:
    """Why this link (in its place) breaks the chain: reordered, its event deleted or altered, its chain hash
    wrong, or differing from a checkpoint kept outside the database; None if it holds."""
    if lk.prev_hash != prev:
        return "links are out of order (prev hash differs)"
    ev = events.get(lk.event_id)
    if ev is None:
        return f"event {lk.event_id} was deleted"
    if content_hash(ev) != lk.content_hash:
        return f"event {lk.event_id} was altered"
    if chain_hash(prev, lk.content_hash) != lk.chain_hash:
        return "chain hash does not match"
    cp = expected.get(lk.seq)
    if cp is not None and cp.get("chain_hash") != lk.chain_hash:
        return f"the chain differs from the checkpoint of {cp.get('time')} at link #{lk.seq} (rewritten)"
    return None


@dataclass
class _Walk:
    """Where the walk over the chain stands: links checked, the previous chain hash, the next sequence number."""

    checked: int = 0
    prev: str = GENESIS
    expected_seq: int = 1
    last_seq: int = 0


def _walk_chunk(walk: _Walk, links: list[ChainLink], expected: dict) -> VerifyResult | None:
    """Check one chunk of links in order (and the write-log entries their events carry); the first fault, or None."""
    events = AccessEvent.objects.in_bulk([lk.event_id for lk in links])
    for lk in links:
        if lk.seq != walk.expected_seq:
            n = walk.expected_seq
            return VerifyResult(walk.checked, False, n, None, f"link #{n} is missing")
        why = _link_fault(lk, prev=walk.prev, events=events, expected=expected)
        if why is not None:
            return VerifyResult(walk.checked, False, lk.seq, lk.event_id, why)
        walk.prev = lk.chain_hash
        walk.expected_seq += 1
        walk.checked += 1
    broken = _log_entries_broken(links, events)
    if broken:
        lk, why = broken
        return VerifyResult(walk.checked, False, lk.seq, lk.event_id, why)
    walk.last_seq = links[-1].seq
    return None


def _tail_fault(walk: _Walk, expected: dict, checkpoints: int) -> VerifyResult | None:
    """The chain ends before the furthest checkpoint: events and links were deleted or truncated."""
    if not expected or max(expected) <= walk.last_seq:
        return None
    furthest = max(expected)
    cp = expected[furthest]
    return VerifyResult(
        walk.checked,
        False,
        walk.last_seq + 1,
        cp.get("event_id"),
        f"the chain ends at link #{walk.last_seq} but a checkpoint of {cp.get('time')} recorded "
        f"link #{furthest} (events and links were deleted or truncated)",
        checkpoints=checkpoints,
    )


def _overdue_fault(walk: _Walk, checkpoints: int) -> VerifyResult | None:
    """Events left unlinked longer than AUDIT_LINK_MAX_LAG_SECONDS (counted from the small queue of unlinked
    events, not by scanning every event)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.AUDIT_LINK_MAX_LAG_SECONDS)
    overdue = UnlinkedEvent.objects.filter(occurred_at__lt=cutoff).count()
    if not overdue:
        return None
    return VerifyResult(
        walk.checked,
        False,
        None,
        None,
        f"{overdue} events are older than the allowed lag and not linked into the chain",
        unlinked_overdue=overdue,
        checkpoints=checkpoints,
    )


def audit_verify(*, link_first: bool = True, chunk: int = 20000) -> VerifyResult:
    """Walk the chain from the start; name the first link whose event, write-log entry or order does not match.

    Catches an edited event (content hash differs), an edited or deleted write-log entry (its hash, carried by
    the event, differs), a deleted event (link points at nothing), a deleted or reordered link (seq or prev hash
    breaks), a chain cut or rewritten behind a checkpoint kept outside the database (truncation, deletion of the
    newest events and links; audit/anchor.py), and events left unlinked longer than AUDIT_LINK_MAX_LAG_SECONDS
    (counted from the small queue of unlinked events, not by scanning every event).
    """
    if link_first:
        audit_link_chain()
    checkpoints = anchor.checkpoints_read()
    invalid = [c["invalid"] for c in checkpoints if "invalid" in c]
    if invalid:
        return VerifyResult(
            0, False, None, None, f"checkpoint file damaged at {invalid[0]}", checkpoints=len(checkpoints)
        )
    expected = {c["seq"]: c for c in checkpoints}
    walk = _Walk()
    while links := list(ChainLink.objects.filter(seq__gt=walk.last_seq).order_by("seq")[:chunk]):
        if fault := _walk_chunk(walk, links, expected):
            return fault
    return (
        _tail_fault(walk, expected, len(checkpoints))
        or _overdue_fault(walk, len(checkpoints))
        or VerifyResult(walk.checked, True, checkpoints=len(checkpoints))
    )


def audit_ensure_partitions(*, months_ahead: int = 3) -> list[str]:
    """Create the monthly partitions of audit_accessevent for last month, this month and the next few.

    Through the SECURITY DEFINER function audit_partition_ensure (migration 0003): the application's role owns
    no table and could not create one itself."""
    created = []
    today = timezone.now().date().replace(day=1)
    with connection.cursor() as cur:
        for i in range(-1, months_ahead + 1):
            y, m = divmod(today.month - 1 + i, 12)
            start = today.replace(year=today.year + y, month=m + 1)
            cur.execute("SELECT audit_partition_ensure(%s)", [start])
            if cur.fetchone()[0]:
                created.append(f"audit_accessevent_{start:%Y%m}")
    return created
