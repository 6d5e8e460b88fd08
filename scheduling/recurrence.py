"""RFC 5545 recurrence in the clinic's wall-clock time.

Occurrences are computed on naive local times and then placed in settings.TIME_ZONE, so a weekly 09:00 visit stays
at 09:00 across daylight-saving changes (computing on UTC instants would move it by an hour)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from django.conf import settings
from django.core.exceptions import ValidationError

# Rolling horizon: a series exists as appointment rows up to this far ahead (settings.SERIES_HORIZON_DAYS); the
# daily beat task series_extend books the next ones as time passes. Nothing beyond the rule's end is dropped.
HORIZON_DAYS_DEFAULT = 365
# A guard against a runaway rule in one call only (FREQ=HOURLY is not allowed): the watermark stops at the last
# occurrence produced, so the next call continues from there.
BATCH_LIMIT = 1000


def horizon_days() -> int:
    return int(getattr(settings, "SERIES_HORIZON_DAYS", HORIZON_DAYS_DEFAULT))


_ALLOWED = re.compile(r"^(FREQ|INTERVAL|COUNT|UNTIL|BYDAY|BYMONTHDAY|BYMONTH|BYSETPOS|WKST)=[A-Z0-9,+\-]+$")
_FREQS = ("FREQ=DAILY", "FREQ=WEEKLY", "FREQ=MONTHLY", "FREQ=YEARLY")


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
    if not parts or parts[0] not in _FREQS or not all(_ALLOWED.match(p) for p in parts):
        raise ValidationError(
            {"rrule": "Enter a daily, weekly, monthly or yearly rule such as FREQ=WEEKLY;COUNT=6."}
        )
    if not any(p.startswith(("COUNT=", "UNTIL=")) for p in parts):
        raise ValidationError({"rrule": "A series needs an end: COUNT=n or UNTIL=date."})
    try:
        rrulestr("RRULE:" + ";".join(parts), dtstart=datetime(2000, 1, 1))  # noqa: DTZ001 (syntax check only)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"rrule": f"That recurrence rule is not valid ({exc})."}) from None
    return ";".join(parts)


def occurrences(
    rule: str, dtstart: datetime, *, until: datetime, after: datetime | None = None
) -> tuple[list[datetime], bool]:
    """Aware occurrence starts of `rule` from `dtstart` (aware) that fall after `after` (exclusive) and up to
    `until` (inclusive), and whether the rule has occurrences beyond those returned (the series goes on)."""
    start_local = local_naive(dtstart)
    parts = []
    for p in rule.split(";"):
        if p.startswith("UNTIL="):
            value = p[6:].rstrip("Z")
            value = value if "T" in value else value + "T235959"
            p = "UNTIL=" + value  # compared as local wall-clock time
        parts.append(p)
    r = rrulestr("RRULE:" + ";".join(parts), dtstart=start_local)
    limit = local_naive(until)
    lower = local_naive(after) if after else None
    out: list[datetime] = []
    it = iter(r) if lower is None else iter(r.xafter(lower, inc=False))
    for occ in it:
        if occ > limit or len(out) >= BATCH_LIMIT:
            return out, True
        out.append(aware(occ))
    return out, False


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


# The booking form's plain controls ("every N weeks on these days, ending after N times / on a date"), in the order
# of the week as RFC 5545 names its days.
WEEKDAYS = [
    ("MO", "Mon"),
    ("TU", "Tue"),
    ("WE", "Wed"),
    ("TH", "Thu"),
    ("FR", "Fri"),
    ("SA", "Sat"),
    ("SU", "Sun"),
]
MAX_INTERVAL_WEEKS = 52
MAX_COUNT = 200


def rrule_weekly(*, every: int, days: list[str], count: int | None = None, until: date | None = None) -> str:
    """The RRULE of "every `every` weeks on `days` (MO..SU), `count` times or until `until` (a date, inclusive)".
    Raises ValidationError naming the field at fault for a combination that makes no series."""
    if not 1 <= every <= MAX_INTERVAL_WEEKS:
        raise ValidationError({"every": f"Repeat every 1 to {MAX_INTERVAL_WEEKS} weeks."})
    codes = [c for c, _ in WEEKDAYS]
    if not days:
        raise ValidationError({"on_days": "Choose at least one day of the week."})
    if any(d not in codes for d in days):
        raise ValidationError({"on_days": "Choose days of the week from Monday to Sunday."})
    if (count is None) == (until is None):
        raise ValidationError({"ends": "Say when the series ends: after a number of visits or on a date."})
    if count is not None and not 2 <= count <= MAX_COUNT:
        raise ValidationError({"count": f"A series has 2 to {MAX_COUNT} visits."})
    parts = ["FREQ=WEEKLY"]
    if every > 1:
        parts.append(f"INTERVAL={every}")
    parts.append("BYDAY=" + ",".join(sorted(set(days), key=codes.index)))
    parts.append(f"COUNT={count}" if count is not None else f"UNTIL={until:%Y%m%d}")
    return rrule_clean(";".join(parts))


_DAY_NAMES = dict(
    zip(
        [c for c, _ in WEEKDAYS],
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        strict=True,
    )
)
_FREQ_UNITS = {
    "DAILY": ("day", "days"),
    "WEEKLY": ("week", "weeks"),
    "MONTHLY": ("month", "months"),
    "YEARLY": ("year", "years"),
}


def rrule_words(rule: str) -> str:
    """A series' rule in plain words for staff: "Every 2 weeks on Monday and Thursday, 10 visits". A rule this
    cannot word (a part other than these) is shown as it is rather than half-described."""
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    unit = _FREQ_UNITS.get(parts.get("FREQ", ""))
    if unit is None or set(parts) - {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL", "WKST"}:
        return rule
    every = int(parts.get("INTERVAL", "1") or 1)
    words = f"Every {unit[0]}" if every == 1 else f"Every {every} {unit[1]}"
    if "BYDAY" in parts:
        days = [_DAY_NAMES.get(d) for d in parts["BYDAY"].split(",")]
        if None in days:
            return rule
        words += " on " + (days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1])
    if "COUNT" in parts:
        words += f", {parts['COUNT']} visits"
    elif "UNTIL" in parts:
        until = datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()
        words += f", until {until:%b} {until.day}, {until.year}"
    return words
