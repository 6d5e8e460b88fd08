"""RFC 5545 recurrence in the clinic's wall-clock time.

Occurrences are computed on naive local times and then placed in settings.TIME_ZONE, so a weekly 09:00 visit stays
at 09:00 across daylight-saving changes (computing on UTC instants would move it by an hour)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from django.conf import settings
from django.core.exceptions import ValidationError

MAX_OCCURRENCES = 200
HORIZON_DAYS = 366

_ALLOWED = re.compile(r"^(FREQ|INTERVAL|COUNT|UNTIL|BYDAY|BYMONTHDAY|BYMONTH|BYSETPOS|WKST)=[A-Z0-9,+\-]+$")


def clinic_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_naive(dt: datetime) -> datetime:
    return dt.astimezone(clinic_tz()).replace(tzinfo=None)


def aware(naive: datetime) -> datetime:
    return naive.replace(tzinfo=clinic_tz())


def rrule_clean(rule: str) -> str:
    """Normalise and check a rule ("FREQ=WEEKLY;COUNT=6"). Only the recurrence parts; no DTSTART inside."""
    rule = (rule or "").strip().upper().removeprefix("RRULE:")
    parts = [p for p in rule.split(";") if p]
    if not parts or not parts[0].startswith("FREQ=") or not all(_ALLOWED.match(p) for p in parts):
        raise ValidationError({"rrule": "Enter a recurrence rule such as FREQ=WEEKLY;COUNT=6."})
    if not any(p.startswith(("COUNT=", "UNTIL=")) for p in parts):
        raise ValidationError({"rrule": "A series needs an end: COUNT=n or UNTIL=date."})
    try:
        rrulestr("RRULE:" + ";".join(parts), dtstart=datetime(2000, 1, 1))  # noqa: DTZ001 (syntax check only)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"rrule": f"That recurrence rule is not valid ({exc})."}) from None
    return ";".join(parts)


def occurrences(rule: str, dtstart: datetime, *, until: datetime | None = None) -> list[datetime]:
    """Aware occurrence starts of `rule` from `dtstart` (aware), within the horizon, at most MAX_OCCURRENCES."""
    start_local = local_naive(dtstart)
    parts = []
    for p in rule.split(";"):
        if p.startswith("UNTIL="):
            value = p[6:].rstrip("Z")
            value = value if "T" in value else value + "T235959"
            p = "UNTIL=" + value  # compared as local wall-clock time
        parts.append(p)
    r = rrulestr("RRULE:" + ";".join(parts), dtstart=start_local)
    limit = local_naive(until) if until else start_local + timedelta(days=HORIZON_DAYS)
    out = []
    for occ in r:
        if occ > limit or len(out) >= MAX_OCCURRENCES:
            break
        out.append(aware(occ))
    return out


def rule_with_until(rule: str, before: datetime) -> str:
    """The rule ended just before `before` (for "this and following" edits: the old series stops there)."""
    last = local_naive(before) - timedelta(seconds=1)
    parts = [p for p in rule.split(";") if not p.startswith(("COUNT=", "UNTIL="))]
    return ";".join([*parts, "UNTIL=" + last.strftime("%Y%m%dT%H%M%S")])


def rule_remaining(rule: str, done: int) -> str:
    """The rule for the rest of a series of which `done` occurrences stay in the old one (COUNT is reduced)."""
    out = []
    for p in rule.split(";"):
        if p.startswith("COUNT="):
            p = f"COUNT={max(1, int(p[6:]) - done)}"
        out.append(p)
    return ";".join(out)
