"""The calendar grid of the day and week pages: columns (a provider on a day), rows (minutes of the clinic's
wall-clock day), and what each column shows: its open hours, time off and blocked time, the booked appointments
and the free slots one may click to book.

Pure layout: the rows come from selectors (calendar(), calendar_frames()); the markup from
templatetags/calendar_grid.py. Positions are minutes from the grid's first row; static/js/calendar.js places each
element from its data attributes (the CSP allows no inline style attribute)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils import timezone

from .models import FREE_STATUSES, TimeOffKind
from .selectors import CalendarItem

DAY_MINUTES = 24 * 60
DEFAULT_OPEN = (8 * 60, 17 * 60)  # an empty day still shows the usual clinic hours


@dataclass(slots=True)
class Placed:
    """Something in a column from `top` (minutes after the grid's first row) for `span` minutes."""

    top: int
    span: int


@dataclass(slots=True)
class Appt(Placed):
    item: CalendarItem
    lane: int = 0  # 1 when it overlaps an earlier one (a no-show and the patient booked in its slot)


@dataclass(slots=True)
class Off(Placed):
    hard: bool  # time off; otherwise blocked time
    reason: str


@dataclass(slots=True)
class Free(Placed):
    start: datetime  # clinic local time


@dataclass(slots=True)
class Column:
    day: date
    provider: object
    opens: list[Placed] = field(default_factory=list)
    offs: list[Off] = field(default_factory=list)
    appts: list[Appt] = field(default_factory=list)
    free: list[Free] = field(default_factory=list)


@dataclass(slots=True)
class Grid:
    first: int  # minute of the day of the first row (a whole hour)
    last: int  # minute of the day after the last row (a whole hour)
    columns: list[Column]
    step: int  # minutes of a free slot
    now: int | None  # minutes after `first` of the now-line, when today is shown and within the rows
    today: date

    @property
    def hours(self) -> list[tuple[int, str]]:
        """(top, label) of each whole hour."""
        return [(m - self.first, f"{m // 60:02d}:00") for m in range(self.first, self.last, 60)]

    @property
    def minutes(self) -> int:
        return self.last - self.first


def _minute(dt: datetime, day: date) -> int:
    """Minutes of `dt` after the start of `day` (clinic wall-clock), clamped to the day."""
    local = timezone.localtime(dt)
    if local.date() < day:
        return 0
    if local.date() > day:
        return DAY_MINUTES
    return local.hour * 60 + local.minute


def _hours_on(hours, provider_id: int, day: date) -> list[tuple[int, int]]:
    return sorted(
        (h.start_time.hour * 60 + h.start_time.minute, h.end_time.hour * 60 + h.end_time.minute)
        for h in hours
        if h.provider_id == provider_id
        and h.weekday == day.weekday()
        and h.effective_from <= day
        and (h.effective_to is None or h.effective_to >= day)
    )


def build(
    *,
    days: list[date],
    providers: list,
    items: list[CalendarItem],
    hours: list,
    offs: list,
    step: int,
    length: int,
    now: datetime | None = None,
) -> Grid:
    """Columns for each day and provider, in that order. Free slots are `step` minutes apart inside the working
    hours, where an appointment of `length` minutes fits before the hours end, clear of time off, blocked time
    and booked appointments, and not in the past."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    now_min = _minute(now, today)
    by_key = {(d, p.pk): Column(day=d, provider=p) for d in days for p in providers}
    columns = list(by_key.values())
    busy: dict[tuple[date, int], list[tuple[int, int]]] = {}
    _place_appointments(by_key, items, busy)
    _place_offs(by_key, offs, days, busy)
    lo, hi = DAY_MINUTES, 0
    for col in columns:
        opens = _hours_on(hours, col.provider.pk, col.day)
        col.opens = [Placed(s, e - s) for s, e in opens]
        if col.day >= today:
            earliest = now_min if col.day == today else 0
            col.free = _free(col.day, opens, busy.get((col.day, col.provider.pk), []), step, length, earliest)
        for s, e in [*opens, *((a.top, a.top + a.span) for a in col.appts)]:
            lo, hi = min(lo, s), max(hi, e)
        _lanes(col.appts)
    if lo >= hi:
        lo, hi = DEFAULT_OPEN
    first, last = lo // 60 * 60, min(DAY_MINUTES, -(-hi // 60) * 60)
    for col in columns:
        for x in (*col.opens, *col.offs, *col.appts, *col.free):
            top = max(x.top, first)
            x.span, x.top = max(min(x.top + x.span, last) - top, 5), top - first
    shown_now = today in days and first <= now_min < last
    return Grid(first, last, columns, step, now_min - first if shown_now else None, today)


def _place_appointments(by_key, items, busy) -> None:
    for i in items:
        a = i.appointment
        d = timezone.localtime(a.start).date()
        col = by_key.get((d, a.provider_id))
        if col is None:
            continue
        s, e = _minute(a.start, d), _minute(a.end, d)
        col.appts.append(Appt(s, max(e - s, 5), i))
        if a.status not in FREE_STATUSES:
            busy.setdefault((d, a.provider_id), []).append((s, e))


def _place_offs(by_key, offs, days, busy) -> None:
    for t in offs:
        for d in days:
            col = by_key.get((d, t.provider_id))
            s, e = _minute(t.start, d), _minute(t.end, d)
            if col is not None and e > s:
                col.offs.append(Off(s, e - s, t.kind == TimeOffKind.TIME_OFF, t.reason))
                busy.setdefault((d, t.provider_id), []).append((s, e))


def _free(day: date, opens, busy, step: int, length: int, earliest: int) -> list[Free]:
    """The free starts of a column: every `step` minutes in the open hours, from `earliest` (now, today)."""
    out = []
    midnight = datetime.combine(day, datetime.min.time())
    for s, e in opens:
        m = s
        while m + length <= e:
            if m >= earliest and not any(bs < m + length and be > m for bs, be in busy):
                out.append(Free(m, step, midnight + timedelta(minutes=m)))
            m += step
    return out


def _lanes(appts: list[Appt]) -> None:
    """An appointment overlapping an earlier one of the column goes to the second lane (drawn beside it)."""
    appts.sort(key=lambda a: (a.top, a.item.appointment.status in FREE_STATUSES))
    end_first = -1
    for a in appts:
        if a.top < end_first:
            a.lane = 1
        else:
            end_first = a.top + a.span
