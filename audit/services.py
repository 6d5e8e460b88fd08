"""Writes of the audit trail. Every other app records through `access_record`; nothing else inserts events."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import AccessEvent, Action, ChainLink, Outcome

GENESIS = "0" * 64
_LINK_LOCK = 7_304_211  # pg advisory lock key: one linker at a time, never a request


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


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
) -> AccessEvent:
    """Append one access event (ASTM E2147). Cheap: a single INSERT, no lock, no read.

    Runs in its own savepoint-free autocommit context when called outside a transaction; inside one, the event
    commits or rolls back with the work it describes (a denied attempt is recorded outside any transaction).
    """
    event = _event(actor=actor, action=action, category=category, patient_id=patient_id, patient_ids=patient_ids,
                   outcome=outcome, request=request, break_glass=break_glass, channel=channel, detail=detail)
    event.save(force_insert=True)
    return event


def access_record_denied(*, actor, category: str, patient_id=None, request=None, detail=None) -> None:
    """A refused attempt is evidence too. Services check access before they open their transaction, so this
    event is committed even though the refused operation never starts."""
    access_record(actor=actor, action=Action.VIEW, category=category, patient_id=patient_id,
                  outcome=Outcome.DENIED, request=request, detail=detail)


def _event(*, actor, action, category, patient_id, patient_ids, outcome, request, break_glass, channel,
           detail) -> AccessEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    if channel is None:
        channel = getattr(request, "audit_channel", None) or ("ui" if request is not None else "task")
    ids = [str(p) for p in (patient_ids or [])]
    event = AccessEvent(
        occurred_at=timezone.now(),
        actor=user,
        actor_username=user.get_username() if user else (str(actor) if actor else "system"),
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
    return event


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
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def content_hash(ev: AccessEvent) -> str:
    return hashlib.sha256(event_canonical(ev)).hexdigest()


def chain_hash(prev: str, content: str) -> str:
    return hashlib.sha256(f"{prev}:{content}".encode()).hexdigest()


LOOKBACK_IDS = 20_000  # events committed late (long transactions) are still found within this window


def audit_link_chain(*, batch: int = 5000, max_batches: int = 100) -> int:
    """Link committed, unlinked events into the chain, oldest id first. Returns how many were linked.

    Only one linker runs (a session advisory lock); requests never wait for it. Called every two seconds by
    Celery beat, and by audit_verify before it checks.
    """
    linked = 0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_LINK_LOCK])
        if not cur.fetchone()[0]:
            return 0
    try:
        for _ in range(max_batches):
            with transaction.atomic():
                last = ChainLink.objects.order_by("-seq").values("seq", "chain_hash", "event_id").first()
                seq = last["seq"] if last else 0
                prev = last["chain_hash"] if last else GENESIS
                low = max(0, (ChainLink.objects.order_by("-event_id").values_list("event_id", flat=True).first()
                              or 0) - LOOKBACK_IDS)
                events = list(
                    AccessEvent.objects.filter(id__gt=low)
                    .exclude(id__in=ChainLink.objects.filter(event_id__gt=low).values("event_id"))
                    .order_by("id")[:batch]
                )
                if not events:
                    break
                links = []
                for ev in events:
                    seq += 1
                    ch = content_hash(ev)
                    new = chain_hash(prev, ch)
                    links.append(ChainLink(seq=seq, event_id=ev.id, event_time=ev.occurred_at, content_hash=ch,
                                           prev_hash=prev, chain_hash=new))
                    prev = new
                ChainLink.objects.bulk_create(links)
                linked += len(links)
                if len(events) < batch:
                    break
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [_LINK_LOCK])
    return linked


@dataclass
class VerifyResult:
    checked: int
    ok: bool
    first_broken_seq: int | None = None
    first_broken_event: int | None = None
    reason: str = ""
    unlinked_overdue: int = 0


def audit_verify(*, link_first: bool = True, chunk: int = 20000) -> VerifyResult:
    """Walk the chain from the start; name the first link whose event or order does not match.

    Catches an edited event (content hash differs), a deleted event (link points at nothing), a deleted or
    reordered link (seq or prev hash breaks), and events left unlinked longer than AUDIT_LINK_MAX_LAG_SECONDS.
    """
    if link_first:
        audit_link_chain()
    checked = 0
    prev = GENESIS
    expected_seq = 1
    last_seq = 0
    while True:
        links = list(ChainLink.objects.filter(seq__gt=last_seq).order_by("seq")[:chunk])
        if not links:
            break
        events = AccessEvent.objects.in_bulk([lk.event_id for lk in links])
        for lk in links:
            if lk.seq != expected_seq:
                return VerifyResult(checked, False, expected_seq, None, f"link #{expected_seq} is missing")
            if lk.prev_hash != prev:
                return VerifyResult(checked, False, lk.seq, lk.event_id, "links are out of order (prev hash differs)")
            ev = events.get(lk.event_id)
            if ev is None:
                return VerifyResult(checked, False, lk.seq, lk.event_id, f"event {lk.event_id} was deleted")
            if content_hash(ev) != lk.content_hash:
                return VerifyResult(checked, False, lk.seq, lk.event_id, f"event {lk.event_id} was altered")
            if chain_hash(prev, lk.content_hash) != lk.chain_hash:
                return VerifyResult(checked, False, lk.seq, lk.event_id, "chain hash does not match")
            prev = lk.chain_hash
            expected_seq += 1
            checked += 1
        last_seq = links[-1].seq
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.AUDIT_LINK_MAX_LAG_SECONDS)
    overdue = AccessEvent.objects.filter(occurred_at__lt=cutoff).exclude(
        id__in=ChainLink.objects.values("event_id")).count()
    if overdue:
        return VerifyResult(checked, False, None, None, f"{overdue} events are older than the allowed lag and "
                            "not linked into the chain", unlinked_overdue=overdue)
    return VerifyResult(checked, True)


def audit_ensure_partitions(*, months_ahead: int = 3) -> list[str]:
    """Create the monthly partitions of audit_accessevent for this month and the next few."""
    created = []
    today = timezone.now().date().replace(day=1)
    with connection.cursor() as cur:
        for i in range(-1, months_ahead + 1):
            y, m = divmod(today.month - 1 + i, 12)
            start = today.replace(year=today.year + y, month=m + 1)
            y2, m2 = divmod(start.month, 12)
            end = start.replace(year=start.year + y2, month=m2 + 1)
            name = f"audit_accessevent_{start:%Y%m}"
            cur.execute("SELECT to_regclass(%s)", [name])
            if cur.fetchone()[0] is None:
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF audit_accessevent "  # noqa: S608 (names from dates)
                    "FOR VALUES FROM (%s) TO (%s)", [start.isoformat(), end.isoformat()])
                created.append(name)
    return created
