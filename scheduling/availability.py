"""What may be booked: working hours, time off and blocked time, and the checks every booking passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from core.guarded import clean as _clean

from .models import (
    Appointment,
    TimeOff,
    TimeOffKind,
    WorkingHours,
)

# ------------------------------------------------------------------ scheduling: what may be booked
OVERRIDE_HINT = (
    "To book anyway, tick \u201cBook outside working hours or in blocked time\u201d and give the reason."
)


def _who(provider) -> str:
    return provider.get_full_name() or provider.get_username()


def _span(start: datetime, end: datetime) -> str:
    s, e = timezone.localtime(start), timezone.localtime(end)
    if s.date() == e.date():
        return f"{s:%a %d %b %H:%M}\u2013{e:%H:%M}"
    return f"{s:%a %d %b %H:%M} to {e:%a %d %b %H:%M}"


@dataclass
class Unavailable:
    start: datetime
    hard: (
        bool  # time off: never bookable; otherwise (blocked time, outside working hours) an override may book
    )
    why: str


def _time_off_reason(provider, off: TimeOff, start: datetime) -> Unavailable:
    """Time off is never bookable; blocked time may be booked over with an override."""
    note = f" ({off.reason})" if off.reason else ""
    if off.kind == TimeOffKind.TIME_OFF:
        return Unavailable(
            start,
            True,
            f"{_who(provider)} is on time off {_span(off.start, off.end)}{note}: nobody can be booked then.",
        )
    return Unavailable(
        start, False, f"{_who(provider)}'s calendar is blocked {_span(off.start, off.end)}{note}."
    )


def _hours_on(hours: list[WorkingHours], day: date) -> list[WorkingHours]:
    """The working-hours rows in effect on `day`."""
    return [
        h
        for h in hours
        if h.weekday == day.weekday()
        and h.effective_from <= day
        and (h.effective_to is None or h.effective_to >= day)
    ]


def _outside_hours(provider, hours: list[WorkingHours], start: datetime, end: datetime) -> Unavailable | None:
    """Why [start, end) falls outside the provider's working hours (clinic wall-clock time), or None if it fits."""
    ls, le = timezone.localtime(start), timezone.localtime(end)
    day = ls.date()
    rows = _hours_on(hours, day)
    if le.date() == day and any(h.start_time <= ls.time() and le.time() <= h.end_time for h in rows):
        return None
    worked = (
        ", ".join(
            f"{h.start_time:%H:%M}\u2013{h.end_time:%H:%M}" for h in sorted(rows, key=lambda h: h.start_time)
        )
        or "no hours"
    )
    return Unavailable(
        start,
        False,
        f"{ls:%a %d %b %H:%M}\u2013{le:%H:%M} is outside {_who(provider)}'s working hours ({ls:%A}: {worked}).",
    )


def availability_check(*, provider, ranges: list[tuple[datetime, datetime]]) -> list[Unavailable]:
    """The ranges `provider` cannot be booked in, and why. Two queries whatever the number of ranges.

    The clinic's rules: time off (holiday, sickness, a course) is never bookable; blocked time and times outside
    the weekly working hours (effective that day, clinic wall-clock time) are refused unless the front desk
    overrides with a reason (an urgent patient squeezed in at 17:30)."""
    if not ranges:
        return []
    lo, hi = min(s for s, _ in ranges), max(e for _, e in ranges)
    first, last = timezone.localtime(lo).date(), timezone.localtime(hi).date()
    hours = list(
        WorkingHours.objects.filter(provider=provider, effective_from__lte=last).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=first)
        )
    )
    offs = sorted(
        TimeOff.objects.filter(provider=provider, start__lt=hi, end__gt=lo),
        key=lambda t: t.kind != TimeOffKind.TIME_OFF,  # time off first: it is the stronger reason
    )
    out = []
    for s, e in ranges:
        off = next((t for t in offs if t.start < e and t.end > s), None)
        problem = (
            _time_off_reason(provider, off, s) if off is not None else _outside_hours(provider, hours, s, e)
        )
        if problem is not None:
            out.append(problem)
    return out


def availability_enforce(*, provider, ranges, override_reason: str = "") -> None:
    problems = availability_check(provider=provider, ranges=ranges)
    hard = [p for p in problems if p.hard]
    soft = [p for p in problems if not p.hard]
    if hard:
        raise ValidationError(_listed(hard) + " Choose another time.")
    if soft and not (override_reason or "").strip():
        raise ValidationError(_listed(soft) + " " + OVERRIDE_HINT)


def _listed(problems: list[Unavailable], most: int = 4) -> str:
    text = " ".join(p.why for p in problems[:most])
    if len(problems) > most:
        text += f" (and {len(problems) - most} more dates)"
    return text


def appointment_validate(appt: Appointment) -> None:
    if appt.start is None or appt.end is None:
        raise ValidationError({"start": "Enter a start time."})
    if timezone.is_naive(appt.start) or timezone.is_naive(appt.end):
        raise ValidationError({"start": "Times must carry a time zone."})
    if appt.end <= appt.start:
        raise ValidationError({"end": "The end must be after the start."})
    if appt.room_id and appt.location_id and appt.room.location_id != appt.location_id:
        raise ValidationError({"room": "That room is in another location."})
    # Constraint checks here give the usual message; the database still decides a race (_save_guarded).
    _clean(appt)
