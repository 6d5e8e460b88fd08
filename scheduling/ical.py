"""iCalendar (RFC 5545) documents of a provider's appointments, written with the `icalendar` library (it escapes
text values and folds long lines, which hand-written templates got wrong).

What a subscription feed may contain: a calendar app stores the feed outside the EHR (phones, cloud calendar
services) and the URL works without signing in, so the feed carries no patient information at all: each event
says "Busy" and the appointment type, its place and status; no name, no initials (initials and a time identify a
patient in a small clinic), no reason. The signed-in download names patients only where the viewer may see them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from icalendar import Calendar, Event


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Open EHR//Schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _event(appt, summary: str, stamp) -> Event:
    ev = Event()
    ev.add("uid", f"{appt.pk}@open-ehr")
    ev.add("dtstamp", stamp)
    ev.add("dtstart", appt.start)
    ev.add("dtend", appt.end)
    ev.add("summary", summary)
    ev.add("status", "CONFIRMED" if appt.active else "CANCELLED")
    where = ", ".join(str(x) for x in (appt.location, appt.room and appt.room.name) if x)
    if where:
        ev.add("location", where)
    return ev


def feed_subscription(*, provider, appointments: Iterable) -> bytes:
    """The secret-URL subscription: no patient information (see the module docstring)."""
    cal = _calendar(f"{provider.get_full_name() or provider.get_username()} \u2013 clinic schedule")
    stamp = timezone.now()
    for a in appointments:
        cal.add_component(_event(a, f"Busy \u2013 {a.appointment_type.name}", stamp))
    return cal.to_ical()


def feed_signed_in(*, provider, items: Iterable) -> bytes:
    """The signed-in download: CalendarItem rows, labelled with the patient's name where the viewer may see it."""
    cal = _calendar(f"{provider.get_full_name() or provider.get_username()} \u2013 clinic schedule")
    stamp = timezone.now()
    for i in items:
        cal.add_component(_event(i.appointment, f"{i.label} ({i.appointment.appointment_type.name})", stamp))
    return cal.to_ical()
