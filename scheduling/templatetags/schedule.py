"""The day list's rows, rendered in Python.

A clinic network's day is hundreds of appointments, each with up to three status buttons: rendered by the
template engine (a variable lookup, an escape and a URL reverse per cell and per form) they were most of the day
page's time. The markup is the one the template had; every value is escaped (html.escape, which django.utils.html.escape
wraps: the wrapper's lazy-string check and SafeString per call were a tenth of a 382-row page).
"""

from html import escape

from django import template
from django.urls import reverse
from django.utils.dateformat import time_format
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from scheduling.services import FLOW

register = template.Library()

_ANY = (
    "00000000-0000-4000-8000-000000000000"  # a placeholder id: URLs are reversed once, then filled in per row
)


@register.simple_tag(takes_context=True)
def day_list_rows(context, items) -> str:
    """<tr> per calendar item (scheduling.selectors.CalendarItem): time, patient (or "Busy"), type, provider, room,
    status, and a form with a button per next step of the patient flow (services.FLOW) where the patient may be
    shown."""
    if not items:
        return mark_safe('<tr><td colspan="7" class="muted">No appointments.</td></tr>')  # noqa: S308
    detail = escape(
        reverse("scheduling:appointment_detail", args=[_ANY])
    )  # _ANY comes through escape unchanged
    advance = reverse("scheduling:appointment_advance", args=[_ANY])
    insurance = escape(reverse("patients:insurance", args=[_ANY]))
    # One form per row, a button per next step of the flow (its name and value say which): the day of a clinic
    # network is hundreds of rows, and a form per button tripled the page's markup.
    form = (
        f'<form method="post" action="{escape(advance)}" hx-post="{escape(advance)}" hx-target="closest tr" '
        'hx-swap="outerHTML" class="inline">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(str(context.get("csrf_token")))}">'
        '<input type="hidden" name="next" value="day"><input type="hidden" name="kind" value="row">'
        f'<input type="hidden" name="date" value="{escape(context.get("day_iso", ""))}">'
        "{buttons}</form>"
    )
    button = '<button type="submit" name="status" value="{status}" class="btn-sm">{label}</button> '
    # The same few types, providers, rooms, statuses and slot times recur on every row: each is formatted once.
    types, providers, rooms, flows, statuses, times = {}, {}, {}, {}, {}, {}
    rows = []
    for i in items:
        a = i.appointment
        pk = a.pk  # a uuid's text: nothing to escape
        t = types.get(a.appointment_type_id)
        if t is None:
            t = types[a.appointment_type_id] = (
                escape(a.appointment_type.colour),
                escape(a.appointment_type.name),
            )
        who = providers.get(a.provider_id)
        if who is None:
            who = providers[a.provider_id] = escape(a.provider.get_full_name() or a.provider.username)
        room = rooms.get(a.room_id)
        if room is None:
            room = rooms[a.room_id] = escape((a.room.name if a.room else "") or "—")
        steps = ""
        if i.visible:
            steps = flows.get(a.status)
            if steps is None:
                nexts = FLOW.get(a.status, ())
                steps = flows[a.status] = (
                    form.replace(
                        "{buttons}",
                        "".join(button.format(status=escape(nxt), label=escape(nxt.label)) for nxt in nexts),
                    )
                    if nexts
                    else ""
                )
            steps = steps.replace(_ANY, pk)
        patient = f'<a href="{detail.replace(_ANY, pk)}">{escape(i.label)}</a>' if i.visible else "Busy"
        patient += (
            f' · <a href="{insurance.replace(_ANY, str(a.patient_id))}">insurance</a>' if i.visible else ""
        )
        span = times.get((a.start, a.end))
        if span is None:
            span = times[(a.start, a.end)] = (
                f"{time_format(localtime(a.start), 'H:i')}–{time_format(localtime(a.end), 'H:i')}"
            )
        status = statuses.get(a.status)
        if status is None:
            status = statuses[a.status] = (
                f'<span class="status status-{escape(a.status)}">{escape(a.get_status_display())}</span>'
            )
        rows.append(
            f'<tr class="appt appt-{t[0]}">\n  <td>{span}</td>\n  <td>{patient}</td>\n  <td>{t[1]}</td><td>{who}</td>'
            f'<td>{room}</td>\n  <td>{status}</td>\n  <td class="row-actions">{steps}</td>\n</tr>'
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped)


@register.filter
def rrule_words(rule: str) -> str:
    """A series' rule in plain words (scheduling.recurrence.rrule_words)."""
    from scheduling.recurrence import rrule_words as words

    return words(rule or "")
