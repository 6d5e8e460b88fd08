"""The three promises every fuzzed request is held to: no 5xx, no reflected markup, no half-saved rows."""

from __future__ import annotations

import json
import re

from django.db import connection

COUNT = {"requests": 0}
# Tables a refused request may still write: the audit trail (a denied attempt is recorded), sessions, lockout
# bookkeeping, the OTP device's last-used step, inbound replay nonces.
MAY_WRITE = ("audit_", "auditlog_", "django_session", "axes_", "otp_", "prescriptions_inboundnonce")
_JSON_SCRIPT = re.compile(r'<script[^>]*type="application/json"[^>]*>.*?</script>', re.S)


def write_counters() -> dict[str, int]:
    """Rows inserted, updated or deleted so far in this transaction, per table (PostgreSQL's xact counters; they
    count writes a savepoint later rolled back too, so they only say where to look)."""
    with connection.cursor() as cur:
        cur.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables")
        return dict(cur.fetchall())


def next_xid() -> int:
    """The first transaction id not yet assigned: a row version written after this has xmin >= it (the request's
    writes run in subtransactions of the test's transaction, each with a new id)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        return cur.fetchone()[0] & 0xFFFFFFFF


def touched(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(t for t, n in after.items() if n != before.get(t, 0) and not t.startswith(MAY_WRITE))


def changed(tables: list[str], since_xid: int) -> list[str]:
    """Of `tables`, those holding a row version written (inserted or updated) since `since_xid` and still
    there: a write a savepoint rolled back is not a change."""
    out = []
    with connection.cursor() as cur:
        for t in tables:
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}" WHERE xmin::text::bigint >= %s)', [since_xid])
            if cur.fetchone()[0]:
                out.append(t)
    return out


def probes(token: str) -> list[str]:
    """Unescaped shapes of strategies.markup(token)."""
    return [
        f"<script>{token}",
        f"<img src=x onerror={token}",
        f"<svg onload={token}",
        f"' onmouseover='{token}'",
    ]


def reflected(resp, token: str) -> str | None:
    ctype = resp.get("Content-Type", "")
    if getattr(resp, "streaming", False) or "html" not in ctype:
        return None
    body = _JSON_SCRIPT.sub("", resp.content.decode(errors="replace"))
    return next((p for p in probes(token) if p in body), None)


def refused(resp) -> bool:
    """The request was turned down: an error status, or a form shown again with its errors."""
    if resp.status_code >= 400:
        return True
    if resp.status_code == 200 and "html" in resp.get("Content-Type", ""):
        body = resp.content.decode(errors="replace")
        return 'class="errorlist' in body or 'aria-invalid="true"' in body
    return False


def saved_as_sent(tables: list[str], since_xid: int, sent: dict[str, list[str]], token: str) -> list[str]:
    """For an accepted write: each sent value carrying the token that landed in a row landed unchanged (Django
    strips surrounding whitespace from form text; that is not a change of the value)."""
    if not tables:
        return []
    problems = []
    with connection.cursor() as cur:
        for t in tables:
            cur.execute(
                f'SELECT to_jsonb(x) FROM "{t}" x WHERE xmin::text::bigint >= %s AND x::text LIKE %s',
                [since_xid, f"%{token}%"],
            )
            rows = [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in cur.fetchall()]
            for row in rows:
                stored = [v for v in row.values() if isinstance(v, str) and token in v]
                stored += [
                    json.dumps(v, ensure_ascii=False) for v in row.values() if isinstance(v, dict | list)
                ]
                for field, values in sent.items():
                    for v in values:
                        if token not in v or not any(token in s for s in stored):
                            continue
                        if not any(v.strip() in s or json.dumps(v.strip())[1:-1] in s for s in stored):
                            problems.append(f"{t}: {field}={v!r} stored as {stored!r}")
    return problems
