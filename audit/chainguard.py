"""What the linker checks before it extends the hash chain (issue 18 #2).

The database refuses a chain link that is not the exact successor of the last one or whose chain hash is not
sha256(prev:content) (trigger audit_link_check, migrations/0004), but it does not recompute the content hash (the
canonical form is Python's, audit.services.event_canonical). So before extending, the linker re-checks what it did
not write itself: the link of the last checkpoint kept outside the database must still be there with the same
hash, and every link after the last point known good (this process's own last link, else that checkpoint, else
the newest LINKER_WINDOW links) must follow its predecessor and hash its event. A chain that fails is not extended
and no checkpoint is written over it: the linker logs an error, events stay queued (audit_verify reports them
overdue) and audit_verify names the broken link.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from . import anchor
from .models import AccessEvent, ChainLink

log = logging.getLogger("audit")

GENESIS = "0" * 64  # the prev_hash of link #1

LINKER_WINDOW = 10_000  # links re-checked from the head when no checkpoint and no own link is known
_CHUNK = 5_000
# database identity -> (seq, chain hash) of the last link this process wrote or checked. Only a shortcut: when
# the link at that seq no longer has that hash the check starts from the checkpoint instead.
_known_good: dict[str, tuple[int, str]] = {}


def chain_hash(prev: str, content: str) -> str:
    """A link's chain hash (audit.services re-exports it; the database recomputes it as sha256(prev:content))."""
    return hashlib.sha256(f"{prev}:{content}".encode()).hexdigest()


class ChainBroken(Exception):
    """The chain fails the linker's check; the message says where and why."""


@dataclass(frozen=True)
class Head:
    seq: int
    chain_hash: str


def head() -> Head:
    last = ChainLink.objects.order_by("-seq").values_list("seq", "chain_hash").first()
    return Head(*last) if last else Head(0, GENESIS)


def _hash_at(seq: int) -> str | None:
    if seq == 0:
        return GENESIS
    return ChainLink.objects.filter(seq=seq).values_list("chain_hash", flat=True).first()


def _start(identity: str, top: Head) -> Head:
    """The last point known good, after checking the newest checkpoint still matches the chain."""
    checkpoint = anchor.checkpoint_last(identity)
    floor = Head(0, _hash_at(0))
    if checkpoint and "seq" in checkpoint:
        at = _hash_at(checkpoint["seq"])
        if at is None:
            raise ChainBroken(
                f"the chain ends at link #{top.seq} but the checkpoint of {checkpoint.get('time')} recorded "
                f"link #{checkpoint['seq']}"
            )
        if at != checkpoint.get("chain_hash"):
            raise ChainBroken(
                f"link #{checkpoint['seq']} differs from the checkpoint of {checkpoint.get('time')} (rewritten)"
            )
        floor = Head(checkpoint["seq"], at)
    elif top.seq > LINKER_WINDOW:
        seq = top.seq - LINKER_WINDOW
        floor = Head(seq, _hash_at(seq) or "")
    own = _known_good.get(identity)
    if own and floor.seq <= own[0] <= top.seq and _hash_at(own[0]) == own[1]:
        return Head(*own)
    return floor


def segment_check(start: Head, top: Head, content_hash: Callable[[AccessEvent], str]) -> None:
    """Every link after `start` up to `top`: contiguous, each after its predecessor, its chain hash right and its
    content hash (audit.services.content_hash, passed in: this module stands below services) that of its event.
    Raises ChainBroken at the first that is not."""
    prev, expected = start.chain_hash, start.seq + 1
    while expected <= top.seq:
        links = list(ChainLink.objects.filter(seq__gte=expected, seq__lte=top.seq).order_by("seq")[:_CHUNK])
        if not links:
            raise ChainBroken(f"link #{expected} is missing")
        events = AccessEvent.objects.in_bulk([lk.event_id for lk in links])
        for lk in links:
            ev = events.get(lk.event_id)
            if lk.seq != expected:
                raise ChainBroken(f"link #{expected} is missing")
            if lk.prev_hash != prev or chain_hash(prev, lk.content_hash) != lk.chain_hash:
                raise ChainBroken(f"link #{lk.seq} does not follow link #{lk.seq - 1}")
            if ev is None or content_hash(ev) != lk.content_hash:
                raise ChainBroken(f"link #{lk.seq} does not hash its event {lk.event_id} (forged or altered)")
            prev, expected = lk.chain_hash, expected + 1


def check_before_extending(identity: str, content_hash: Callable[[AccessEvent], str]) -> Head:
    """The chain's head, after checking the chain up to it (see the module's docstring). Raises ChainBroken."""
    top = head()
    start = _start(identity, top)
    segment_check(start, top, content_hash)
    _known_good[identity] = (top.seq, top.chain_hash)
    return top


def extended(identity: str, top: Head) -> None:
    """Record the head this process just wrote (known good)."""
    _known_good[identity] = (top.seq, top.chain_hash)


def refuse(exc: ChainBroken) -> None:
    log.error("AUDIT-CHAIN-BROKEN the linker refuses to extend the hash chain: %s (run audit_verify)", exc)
