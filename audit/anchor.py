"""Checkpoints of the hash chain kept outside PostgreSQL: what a database superuser cannot rewrite.

Inside the database a superuser can do anything, including TRUNCATE both audit tables or delete the newest events
and their links; the chain would then verify as intact. So the linker appends a checkpoint (the last linked seq and
event id, the chain hash there, the number of links, the time) to a file under AUDIT_ANCHOR_DIR and writes the same
line to the log (logger "audit.anchor"). `audit_verify` reads the checkpoints back and reports a chain that ends
before a checkpoint (tail deletion, truncation) or differs at one (rewrite).

The file is opened for appending only and never rewritten. Production ships it (and the log line) to storage the
database's administrators cannot change: a WORM bucket (S3 Object Lock), a remote syslog, a SIEM. See
docs/deployment.md. Anything linked after the last checkpoint is covered only once the next one is written
(AUDIT_ANCHOR_INTERVAL_SECONDS).

Checkpoints are per database (name and oid, so a recreated database, e.g. a test run's, starts afresh):
AUDIT_ANCHOR_DIR/<database>-<oid>/<YYYY-MM>.jsonl, one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

log = logging.getLogger("audit.anchor")


def database_identity() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT current_database(), oid FROM pg_database WHERE datname = current_database()")
        name, oid = cur.fetchone()
    return f"{name}-{oid}"


def anchor_dir(identity: str | None = None) -> Path:
    return Path(settings.AUDIT_ANCHOR_DIR) / (identity or database_identity())


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def checkpoint_last(identity: str | None = None) -> dict | None:
    """The newest checkpoint of this database, or None. Reads only the tail of the newest file."""
    files = _files(anchor_dir(identity))
    if not files:
        return None
    with open(files[-1], "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def checkpoints_read(identity: str | None = None) -> list[dict]:
    """Every checkpoint of this database, oldest first. A line that does not parse is reported as such."""
    out = []
    for path in _files(anchor_dir(identity)):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"invalid": f"{path.name}:{n}"})
    return out


def checkpoint_due(identity: str | None = None) -> bool:
    """Whether AUDIT_ANCHOR_INTERVAL_SECONDS have passed since the last checkpoint (by the file's mtime)."""
    files = _files(anchor_dir(identity))
    if not files:
        return True
    return time.time() - files[-1].stat().st_mtime >= settings.AUDIT_ANCHOR_INTERVAL_SECONDS


def checkpoint_write(
    *,
    seq: int,
    event_id: int,
    chain_hash: str,
    continuous: bool,
    identity: str | None = None,
    reason: str = "",
) -> dict:
    """Append one checkpoint line (and log it). `continuous` says whether the previous checkpoint still matched
    the chain when this one was taken (False is an alarm: the chain was cut or rewritten in between)."""
    identity = identity or database_identity()
    now = timezone.now()
    record = {
        "database": identity,
        "seq": seq,
        "count": seq,
        "event_id": event_id,
        "chain_hash": chain_hash,
        "time": now.isoformat(timespec="seconds"),
        "continuous": continuous,
    }
    if reason:
        record["reason"] = reason
    folder = anchor_dir(identity)
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    # O_APPEND: each line lands whole at the end, never over what is there.
    fd = os.open(folder / f"{now:%Y-%m}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    (log.info if continuous else log.error)("AUDIT-CHECKPOINT %s", line.strip())
    return record


def checkpoints_forget(identity: str | None = None) -> None:
    """Tests only (the test database is flushed between tests, see audit/management/commands/flush.py)."""
    shutil.rmtree(anchor_dir(identity), ignore_errors=True)
