"""The calendar grid's markup (scheduling.grid.Grid), rendered in Python like the day list's rows: a clinic's day is
hundreds of blocks and free slots, each a few attributes. Every value is escaped (html.escape).

Each element carries its place as data attributes (data-r: first row, data-s: rows spanned, data-c: column,
data-cs: columns spanned; row 1 is the header, column 1 the times); static/js/calendar.js sets the grid position
from them, as the CSP allows no style attribute."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from scheduling.grid import Appt, Grid
from scheduling.services import FLOW

register = template.Library()


def _pos(r: int, s: int, c: int, cs: int = 1) -> str:
    return f'data-r="{r}" data-s="{s}" data-c="{c}"' + (f' data-cs="{cs}"' if cs > 1 else "")


_ANY = "00000000-0000-4000-8000-000000000000"  # a placeholder id: URLs are reversed once, then filled in
_URLS: dict[str, tuple[str, str]] = {}


def _urls() -> tuple[str, str]:
    """The appointment page's and the flow step's URL with the placeholder id (per script prefix)."""
    prefix = get_script_prefix()
    urls = _URLS.get(prefix)
    if urls is None:
        urls = _URLS[prefix] = (
            reverse("scheduling:appointment_detail", args=[_ANY]),
            reverse("scheduling:appointment_advance", args=[_ANY]),
        )
    return urls


def _who(user) -> str:
    return user.get_full_name() or user.username


def appt_block(
    item, *, r: int, s: int, c: int, lane: int, csrf: str, day_iso: str, flow: bool, error: str = ""
):
    """One appointment's block: who (or "Busy"), time, type, status, and the next steps of the patient flow as
    buttons that post with htmx and swap this block in place (the answer is this block again, drawn at the same
    place: `r`, `s`, `c`, `lane` travel with the form)."""
    a = item.appointment
    pk = a.pk
    start, end = localtime(a.start), localtime(a.end)
    span = f"{start:%H:%M}\u2013{end:%H:%M}"
    kind = escape(a.appointment_type.name)
    status = escape(a.get_status_display())
    detail, advance = _urls()
    if item.visible:
        who = f'<a class="cal-who" href="{detail.replace(_ANY, pk)}">{escape(item.label)}</a>'
    else:
        who = '<span class="cal-who">Busy</span>'
    steps = ""
    nexts = FLOW.get(a.status, ()) if item.visible and flow else ()
    if nexts:
        url = advance.replace(_ANY, pk)
        steps = (
            f'<form method="post" action="{url}" hx-post="{url}" hx-target="closest .cal-appt" '
            'hx-swap="outerHTML" class="cal-steps">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf)}">'
            '<input type="hidden" name="next" value="day"><input type="hidden" name="kind" value="block">'
            f'<input type="hidden" name="date" value="{escape(day_iso)}">'
            f'<input type="hidden" name="pos" value="{r},{s},{c},{lane}">'
            + "".join(
                f'<button type="submit" name="status" value="{escape(n)}" class="btn-sm">{escape(n.label)}</button>'
                for n in nexts
            )
            + "</form>"
        )
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    title = escape(f"{span} {item.label} \u00b7 {a.appointment_type.name} \u00b7 {a.get_status_display()}")
    short = " cal-short" if s < 30 else ""
    return (
        f'<div class="cal-appt appt appt-{escape(a.appointment_type.colour)} st-{escape(a.status)}'
        f'{" lane-1" if lane else ""}{short}" id="appt-{pk}" data-testid="cal-appt" {_pos(r, s, c)} '
        f'title="{title}">{who}<span class="cal-what">{start:%H:%M} {kind}</span> '
        f'<span class="status status-{escape(a.status)}" data-testid="cal-status">{status}</span>{steps}{alert}</div>'
    )


def _head(grid: Grid, kind: str, many: bool) -> list[str]:
    out = ['<div class="cal-corner" data-r="1" data-s="1" data-c="1"></div>']
    for n, col in enumerate(grid.columns):
        today = " cal-today" if col.day == grid.today else ""
        if kind == "week" and many and n and col.day != grid.columns[n - 1].day:
            today += " cal-daystart"
        if kind == "day":
            main, sub = _who(col.provider), ""
        else:
            main = f"{col.day:%a} {col.day.day} {col.day:%b}"
            sub = _who(col.provider) if many else ""
        sub = f'<span class="muted">{escape(sub)}</span>' if sub else ""
        out.append(
            f'<div class="cal-head{today}" {_pos(1, 1, n + 2)} data-testid="cal-head">'
            f"<b>{escape(main)}</b>{sub}</div>"
        )
    return out


@register.simple_tag(takes_context=True)
def calendar_grid(context, grid: Grid, kind: str, appointment_type=None) -> str:
    """The grid: header row, hour labels, per column its open hours, time off, free slots and appointments, and
    the now-line. `kind` "day" shows the patient-flow buttons; "week" is for planning."""
    n = len(grid.columns)
    many = len({c.provider.pk for c in grid.columns}) > 1
    out = _head(grid, kind, many)
    out += [f'<div class="cal-time" {_pos(top + 2, 60, 1)}>{label}</div>' for top, label in grid.hours]
    out += _backgrounds(grid, week=kind == "week" and many)
    out += [f'<div class="cal-line" {_pos(top + 2, 60, 2, n)}></div>' for top, _ in grid.hours]
    book = reverse("scheduling:book_slot")
    csrf, day_iso = str(context.get("csrf_token")), context.get("day_iso", "")
    for i, col in enumerate(grid.columns):
        out += _offs(col, i + 2)
        out += _free(col, i + 2, book, appointment_type)
        out += [_block(a, i + 2, csrf, day_iso, kind == "day") for a in col.appts]
    out += _now(grid)
    return mark_safe(  # noqa: S308 (every value above is escaped)
        f'<div class="cal-grid cal-{kind}" data-cols="{n}" data-rows="{grid.minutes}" data-testid="cal-grid">'
        + "".join(out)
        + "</div>"
    )


def _backgrounds(grid: Grid, *, week: bool) -> list[str]:
    """Each column grey (closed) with its open hours white; in a week of several providers, a day's first
    column has a stronger left edge."""
    out = []
    prev_day = None
    for i, col in enumerate(grid.columns):
        first = " cal-daystart" if week and i and col.day != prev_day else ""
        prev_day = col.day
        out.append(f'<div class="cal-bg{first}" {_pos(2, grid.minutes, i + 2)}></div>')
        out.extend(f'<div class="cal-open{first}" {_pos(o.top + 2, o.span, i + 2)}></div>' for o in col.opens)
    return out


def _offs(col, c: int) -> list[str]:
    out = []
    for o in col.offs:
        what = "Time off" if o.hard else "Blocked"
        reason = f" \u00b7 {escape(o.reason)}" if o.reason else ""
        out.append(
            f'<div class="cal-off{" cal-off-hard" if o.hard else ""}" {_pos(o.top + 2, o.span, c)}>'
            f"{what}{reason}</div>"
        )
    return out


def _free(col, c: int, book: str, appointment_type) -> list[str]:
    """Links to book each free slot: the slot's provider, start and the type the slots are for."""
    who = escape(_who(col.provider))
    out = []
    for f in col.free:
        q = {"provider": col.provider.pk, "start": f"{f.start:%Y-%m-%dT%H:%M}"}
        if appointment_type is not None:
            q["appointment_type"] = appointment_type.pk
        out.append(
            f'<a class="cal-free" href="{book}?{escape(urlencode(q))}" {_pos(f.top + 2, f.span, c)} '
            f'aria-label="Book {who} at {f.start:%H:%M} on {f.start:%a %d %b}" data-testid="cal-free">'
            f"{f.start:%H:%M}</a>"
        )
    return out


def _now(grid: Grid) -> list[str]:
    """The now-line across today's columns."""
    cols = [i + 2 for i, col in enumerate(grid.columns) if col.day == grid.today]
    if grid.now is None or not cols:
        return []
    return [
        f'<div class="cal-now" {_pos(grid.now + 2, 1, cols[0], len(cols))} data-testid="cal-now" '
        'aria-hidden="true"></div>'
    ]


def _block(a: Appt, c: int, csrf: str, day_iso: str, flow: bool) -> str:
    return appt_block(a.item, r=a.top + 2, s=a.span, c=c, lane=a.lane, csrf=csrf, day_iso=day_iso, flow=flow)
