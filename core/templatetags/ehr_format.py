"""Formatting filters for pages that list many rows (the chart, timelines).

`isodate` is `|date:"Y-m-d"` (a datetime shown in the current time zone) without the general date formatter,
which costs a chart of 40 dated rows a few milliseconds. `unit` is a UCUM code's readable label (core/units.py).
"""

from datetime import date, datetime

from django import template

from core.units import ucum_label

register = template.Library()


@register.filter(expects_localtime=True)
def isodate(value) -> str:
    """The date as YYYY-MM-DD; a datetime arrives already in the current time zone (expects_localtime)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return ""


@register.filter
def unit(code) -> str:
    """A UCUM unit code as people write it: 10*3/uL -> 10\u00b3/\u00b5L, Cel -> \u00b0C, mm[Hg] -> mmHg."""
    return ucum_label(code)
