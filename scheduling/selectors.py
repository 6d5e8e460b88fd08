"""Every read of scheduling data: providers' calendars, free slots, a patient's appointments, the waitlist,
time off, calendar feeds.

Selectors that take `patient` expect a patient already fetched through patients.selectors.patient_get (which
checked the permission and recorded the access with the page's data category); they record nothing themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.access import visible_condition, visible_patients
from patients.models import display_name
from patients.selectors import patient_get

from . import recurrence
from .models import (
    FREE_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Location,
    ProviderFeed,
    Room,
    Series,
    TimeOff,
    WaitlistEntry,
    WaitlistStatus,
    WorkingHours,
)


# ------------------------------------------------------------------ scheduling reads
def can_view_schedules(actor) -> bool:
    return actor.has_perm("scheduling.view_provider_schedule")


def providers_queryset():
    """Users who see patients (have a Practitioner record), for booking forms and calendars."""
    return (
        get_user_model()
        .objects.filter(is_active=True, practitioner__isnull=False)
        .order_by("last_name", "first_name")
    )


def providers_list() -> list:
    return list(providers_queryset())


def provider_get(*, provider_id):
    """An active provider by id, or None (ids come from query strings: anything else is None)."""
    try:
        pk = int(provider_id)
    except (TypeError, ValueError):
        return None
    return providers_queryset().filter(pk=pk).first()


def appointment_types() -> list[AppointmentType]:
    """The types booking offers (the practice admin can stop offering one: clinic settings)."""
    return list(AppointmentType.objects.filter(offered=True))


def locations() -> list[Location]:
    return list(Location.objects.all())


def rooms() -> list[Room]:
    return list(Room.objects.select_related("location"))


# What a calendar shows of an appointment: its time, status, patient (the name, and whether the viewer may see it),
# type, provider, room and location; in one statement, written out, each row a CalendarAppointment rather than an
# Appointment. A clinic network's day is hundreds of rows: an Appointment per row (its __init__, its deferred
# columns, seven uuid.UUID parses), a read per related table and the visible-patients probe composed with the ORM
# were two thirds of a 382-row day page's time (docs/benchmark.md). The day list, the week, the home panels and the
# iCalendar download read nothing else (tests/scheduling/test_query_counts.py counts their queries,
# tests/scheduling/test_scheduling.py checks what they show). The range overlap is the expression of the GiST
# index appt_span, so the day's appointments are found without reading the providers' whole history.
_CALENDAR_SQL = """
SELECT a.id::text, a.start, a."end", a.status, a.patient_id::text,
       pt.given_name, pt.family_name, pt.preferred_name, {visible},
       a.provider_id, u.username, u.first_name, u.last_name,
       a.appointment_type_id::text, t.name, t.colour,
       a.room_id::text, r.name, a.location_id::text, l.name
  FROM encounters_appointment a
  JOIN patients_patient pt ON pt.id = a.patient_id
  JOIN auth_user u ON u.id = a.provider_id
  JOIN encounters_appointmenttype t ON t.id = a.appointment_type_id
  LEFT JOIN encounters_room r ON r.id = a.room_id
  LEFT JOIN encounters_location l ON l.id = a.location_id
 WHERE tstzrange(a.start, a."end", '[)') && tstzrange(%(start)s, %(end)s, '[)')
   AND a.status <> %(cancelled)s{where}
 ORDER BY a.start, a.provider_id"""
_STATUS_LABELS = dict(AppointmentStatus.choices)


@dataclass(slots=True, eq=False)
class CalendarAppointment:
    """An appointment as a calendar shows it (calendar()): ids as text; the provider, type, room and location
    are instances holding the columns a calendar reads (any other column is read from the database on first
    use, as a deferred field)."""

    pk: str
    start: datetime
    end: datetime
    status: str
    patient_id: str
    patient_name: str
    provider_id: int
    provider: object
    appointment_type_id: str
    appointment_type: AppointmentType
    room_id: str | None
    room: Room | None
    location_id: str | None
    location: Location | None

    @property
    def active(self) -> bool:
        return self.status not in FREE_STATUSES

    def get_status_display(self) -> str:
        return _STATUS_LABELS.get(self.status, self.status)


@dataclass(slots=True)
class CalendarItem:
    appointment: CalendarAppointment
    visible: bool  # may the viewer see who the patient is?

    @property
    def label(self) -> str:
        return self.appointment.patient_name if self.visible else "Busy"


def _shared(cache: dict, model, key, **columns) -> Any:
    """One instance per provider (type, room, location) of the day, from the columns of its first row."""
    obj = cache.get(key)
    if obj is None:
        names = [f.attname for f in model._meta.concrete_fields if f.attname in columns]  # from_db's order
        obj = cache[key] = model.from_db(None, names, [columns[n] for n in names])
    return obj


def _calendar_items(
    *,
    actor,
    start,
    end,
    provider_ids=None,
    statuses=None,
    visible_only=False,
    limit=None,
    appointment_id=None,
) -> list[CalendarItem]:
    """The rows of calendar() and calendar_next(), nothing recorded."""
    if not can_view_schedules(actor):
        raise Http404("No schedule")
    visible, params = visible_condition(
        actor,
        roles.VIEW_SCHEDULE,
        patient="a.patient_id",
        department="pt.department_id",
        merged="pt.merged_into_id",
    )
    params.update(start=start, end=end, cancelled=AppointmentStatus.CANCELLED.value)
    where = ""
    if appointment_id is not None:  # one appointment, whenever it is (the range then covers all time)
        where += " AND a.id = %(appointment)s::uuid"
        params["appointment"] = appointment_id
    if provider_ids:
        where += " AND a.provider_id = ANY(%(providers)s)"
        params["providers"] = [int(p) for p in provider_ids]
    if statuses:
        where += " AND a.status = ANY(%(statuses)s)"
        params["statuses"] = [str(s) for s in statuses]
    if visible_only:
        where += f" AND {visible}"
    sql = _CALENDAR_SQL.format(visible=visible, where=where)
    if limit is not None:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    with connection.cursor() as cur:
        cur.execute(sql, params)
        found = cur.fetchall()
    User = get_user_model()
    users: dict = {}
    types: dict = {}
    rooms_: dict = {}
    places: dict = {}
    items = []
    for (
        pk,
        begin,
        finish,
        status,
        patient_id,
        given,
        family,
        preferred,
        seen,
        provider_id,
        username,
        first,
        last,
        type_id,
        type_name,
        colour,
        room_id,
        room_name,
        location_id,
        location_name,
    ) in found:
        appt = CalendarAppointment(
            pk,
            begin,
            finish,
            status,
            patient_id,
            display_name(given, family, preferred) if seen else "",
            provider_id,
            _shared(
                users, User, provider_id, id=provider_id, username=username, first_name=first, last_name=last
            ),
            type_id,
            _shared(types, AppointmentType, type_id, id=type_id, name=type_name, colour=colour),
            room_id,
            _shared(rooms_, Room, room_id, id=room_id, name=room_name, location_id=location_id)
            if room_id
            else None,
            location_id,
            _shared(places, Location, location_id, id=location_id, name=location_name)
            if location_id
            else None,
        )
        items.append(CalendarItem(appt, seen))
    return items


def _record_shown(actor, items: list[CalendarItem], request) -> None:
    shown = sorted({i.appointment.patient_id for i in items if i.visible})
    access_record(
        actor=actor, action=Action.LIST, category=categories.SCHEDULE, patient_ids=shown, request=request
    )


def calendar(*, actor, start: datetime, end: datetime, provider_ids=None, request=None) -> list[CalendarItem]:
    """Appointments of providers between start and end. Who: users with scheduling.view_provider_schedule.
    Patient names only where the viewer holds view_schedule on the patient; otherwise "Busy".
    One access event names the patients shown."""
    items = _calendar_items(actor=actor, start=start, end=end, provider_ids=provider_ids)
    _record_shown(actor, items, request)
    return items


def calendar_next(
    *, actor, start: datetime, end: datetime, limit: int, provider_ids=None, statuses=None, request=None
) -> tuple[list[CalendarItem], bool]:
    """The first `limit` appointments between start and end whose patient the viewer may see (in `statuses`
    when given), and whether more follow: a work list, not the whole day of a clinic network. One access event
    names the patients shown."""
    items = _calendar_items(
        actor=actor,
        start=start,
        end=end,
        provider_ids=provider_ids,
        statuses=statuses,
        visible_only=True,
        limit=limit + 1,
    )
    items, more = items[:limit], len(items) > limit
    _record_shown(actor, items, request)
    return items, more


def calendar_item(*, actor, appointment_id, request=None) -> CalendarItem | None:
    """One appointment as the calendar shows it (a block or a row re-drawn after a step of the patient flow), or
    None when it is gone (cancelled). One access event names the patient when shown."""
    items = _calendar_items(actor=actor, start=None, end=None, appointment_id=str(appointment_id))
    _record_shown(actor, items, request)
    return items[0] if items else None


def calendar_frames(*, provider_ids: list[int], first: date, last: date) -> tuple[list, list]:
    """The working hours and the time off of `provider_ids` between two days (inclusive), for the calendar grid's
    open hours, blocks and free slots. Two queries whatever the number of providers and days."""
    hours = list(
        WorkingHours.objects.filter(provider_id__in=provider_ids, effective_from__lte=last).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=first)
        )
    )
    lo, hi = day_bounds(first)[0], day_bounds(last)[1]
    offs = list(TimeOff.objects.filter(provider_id__in=provider_ids, start__lt=hi, end__gt=lo))
    return hours, offs


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = recurrence.aware(datetime.combine(day, datetime.min.time()))
    return start, recurrence.aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))


def patient_appointments(*, patient, limit: int = 20) -> list[Appointment]:
    """Upcoming and recent appointments of a patient fetched through patient_get (category SCHEDULE)."""
    since = timezone.now() - timedelta(days=30)
    return list(
        Appointment.objects.filter(patient=patient, start__gte=since)
        .select_related("provider", "appointment_type", "series")
        .order_by("start")[:limit]
    )


def appointment_get(*, actor, appointment_id, request=None) -> Appointment:
    """One appointment, if actor may see the patient's schedule (404 otherwise)."""
    try:
        appt = Appointment.objects.select_related(
            "provider", "appointment_type", "room", "location", "series"
        ).get(pk=appointment_id)
    except (Appointment.DoesNotExist, ValueError):
        raise Http404("No appointment") from None
    appt.patient = patient_get(
        actor=actor,
        patient_id=appt.patient_id,
        perm=roles.VIEW_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    # The encounter opened at check-in, if any (encounters.Encounter.appointment, related_name "encounter": a
    # relation the app above declares; scheduling imports nothing of it).
    appt.encounter_id_or_none = (  # type: ignore[attr-defined]  # a page-only attribute
        Appointment.objects.filter(pk=appt.pk, encounter__isnull=False)
        .values_list("encounter", flat=True)
        .first()
    )
    return appt


def slots_next(
    *,
    provider,
    appointment_type: AppointmentType,
    after: datetime | None = None,
    days: int = 21,
    limit: int = 10,
) -> list[datetime]:
    """The next free starts for a provider and an appointment type: inside working hours (effective that day),
    outside time off and other appointments. Three queries whatever the range."""
    tz = recurrence.clinic_tz()
    after = max(after or timezone.now(), timezone.now())
    first_day = timezone.localtime(after, tz).date()
    last_day = first_day + timedelta(days=days)
    hours = list(
        WorkingHours.objects.filter(provider=provider, effective_from__lte=last_day).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=first_day)
        )
    )
    lo, hi = day_bounds(first_day)[0], day_bounds(last_day)[1]
    busy = list(
        Appointment.objects.filter(provider=provider, start__lt=hi, end__gt=lo)
        .exclude(status__in=FREE_STATUSES)
        .values_list("start", "end")
    )
    busy += list(
        TimeOff.objects.filter(provider=provider, start__lt=hi, end__gt=lo).values_list("start", "end")
    )
    length = timedelta(minutes=appointment_type.duration_minutes)
    out: set[datetime] = set()
    day = first_day
    while day <= last_day and len(out) < limit:
        for wh in sorted(
            (
                h
                for h in hours
                if h.weekday == day.weekday()
                and h.effective_from <= day
                and (h.effective_to is None or h.effective_to >= day)
            ),
            key=lambda h: h.start_time,
        ):
            # Step in absolute time (UTC): on a DST night, 01:40 + 20 min is 03:00, never a 02:00 that does not
            # exist; the wall-clock bounds of the working hours are placed in the clinic zone first.
            s = recurrence.aware(datetime.combine(day, wh.start_time)).astimezone(UTC)
            stop = recurrence.aware(datetime.combine(day, wh.end_time)).astimezone(UTC)
            while s + length <= stop and len(out) < limit:
                e = s + length
                if s >= after and not any(bs < e and be > s for bs, be in busy):
                    out.add(s)  # a set: legacy overlapping working-hours rows never offer a slot twice
                s = e
        day += timedelta(days=1)
    return [timezone.localtime(x, tz) for x in sorted(out)]


def waitlist(*, actor, request=None) -> list[WaitlistEntry]:
    """Open waitlist entries (waiting or offered) for patients whose schedule actor may manage."""
    visible = visible_patients(actor, roles.MANAGE_SCHEDULE)
    rows = list(
        WaitlistEntry.objects.filter(
            status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED], patient__in=visible
        )
        .select_related("patient", "provider", "appointment_type")
        .order_by("status", "created_at")
    )
    if rows:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.SCHEDULE,
            patient_ids=[r.patient_id for r in rows],
            request=request,
        )
    return rows


def provider_feed(*, actor, provider, request=None) -> list[CalendarItem]:
    """The provider's next 90 days for the signed-in iCalendar download (names where the viewer may see them)."""
    now = timezone.now()
    return calendar(
        actor=actor,
        start=now - timedelta(days=7),
        end=now + timedelta(days=90),
        provider_ids=[provider.pk],
        request=request,
    )


def provider_feed_by_token(*, token: str) -> ProviderFeed | None:
    """The subscription a secret token opens (compared by its SHA-256; the token itself is not stored)."""
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return (
        ProviderFeed.objects.select_related("provider")
        .filter(token_sha256=digest, provider__is_active=True)
        .first()
    )


def provider_feed_appointments(*, feed: ProviderFeed, request=None) -> list[Appointment]:
    """The provider's appointments from a week ago to 90 days ahead, for a calendar subscription. Recorded as a
    schedule read by the provider (the token is theirs) over the subscription channel, naming the patients
    whose appointment times left the system, although the feed itself carries no names."""
    now = timezone.now()
    rows = list(
        Appointment.objects.filter(
            provider=feed.provider, start__lt=now + timedelta(days=90), end__gt=now - timedelta(days=7)
        )
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("appointment_type", "location", "room")
        .order_by("start")
    )
    access_record(
        actor=feed.provider,
        action=Action.LIST,
        category=categories.SCHEDULE,
        patient_ids=sorted({str(a.patient_id) for a in rows}),
        request=request,
        channel="ical",
        detail={"feed": "subscription", "provider": feed.provider_id},
    )
    return rows


def provider_feed_status(*, provider) -> ProviderFeed | None:
    return ProviderFeed.objects.filter(provider=provider).first()


# ------------------------------------------------------------------ time off and blocks (reference data)
def time_off_upcoming(*, provider=None, days_back: int = 7, limit: int = 200) -> list[TimeOff]:
    since = timezone.now() - timedelta(days=days_back)
    qs = TimeOff.objects.filter(end__gte=since).select_related("provider").order_by("start")
    if provider is not None:
        qs = qs.filter(provider=provider)
    return list(qs[:limit])


def series_notices(*, patient) -> list[dict]:
    """Occurrences of the patient's series that the rolling horizon could not book (slot taken, provider away):
    shown on the appointments page so that none vanishes silently."""
    out = []
    for s in Series.objects.filter(patient=patient).exclude(skipped=[]).select_related("provider"):
        for item in s.skipped:
            out.append({"series": s, "start": datetime.fromisoformat(item["start"]), "why": item["why"]})
    return sorted(out, key=lambda x: x["start"])


def series_booked_count(*, series) -> int:
    return Appointment.objects.filter(series=series).count()
