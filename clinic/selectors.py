"""Reads for the clinic settings pages: the clinic's reference data (no patient data), each page a constant number
of queries whatever the clinic's size."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from encounters.models import ClinicUnits, EncounterType, NoteTemplate
from scheduling import recurrence
from scheduling.models import AppointmentType, Location, Room, WorkingHours
from scheduling.selectors import providers_queryset

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Visit types a template or an appointment type can open here (the others arrive only by import).
VISIT_TYPES = [
    (v, label)
    for v, label in EncounterType.choices
    if v
    in (
        EncounterType.OFFICE,
        EncounterType.TELEHEALTH,
        EncounterType.PHONE,
        EncounterType.URGENT,
        EncounterType.WELLNESS,
    )
]


def clinic_today() -> date:
    """Today on the clinic's wall clock (working hours are dated in it)."""
    return timezone.localdate(timezone.now(), recurrence.clinic_tz())


def overview() -> dict:
    """Counts for the overview's cards: one query per kind."""
    return {
        "locations": Location.objects.aggregate(active=Count("pk", filter=Q(active=True)), total=Count("pk")),
        "rooms": Room.objects.filter(active=True, location__active=True).count(),
        "providers": providers_queryset().count(),
        "types": AppointmentType.objects.aggregate(
            offered=Count("pk", filter=Q(offered=True)), total=Count("pk")
        ),
        "templates": NoteTemplate.objects.filter(active=True).count(),
        "units": ClinicUnits.current(),
    }


# ------------------------------------------------------------------ locations and rooms
def locations() -> list[Location]:
    """Every location, active first, with its number of active rooms (one query)."""
    return list(
        Location.objects.annotate(room_count=Count("rooms", filter=Q(rooms__active=True))).order_by(
            "-active", "name"
        )
    )


def active_locations() -> QuerySet[Location]:
    return Location.objects.filter(active=True).order_by("name")


def location_get(*, location_id) -> Location | None:
    return Location.objects.filter(pk=location_id).first()


def rooms_of(*, location: Location) -> list[Room]:
    return list(Room.objects.filter(location=location).order_by("-active", "name"))


def room_get(*, location: Location, room_id) -> Room | None:
    return Room.objects.filter(location=location, pk=room_id).first()


def hours_at(*, location: Location, on: date) -> list[WorkingHours]:
    """Working hours in effect on `on` or later at the location (why it cannot be closed yet)."""
    return list(
        WorkingHours.objects.filter(location=location)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .select_related("provider")
        .order_by("provider__last_name", "weekday", "start_time")
    )


# ------------------------------------------------------------------ working hours
def current_hours(*, provider_ids=None, on: date) -> dict[int, list[WorkingHours]]:
    """provider id -> the weekly rows in effect on `on` or starting later (one query)."""
    qs = WorkingHours.objects.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on)).select_related(
        "location"
    )
    if provider_ids is not None:
        qs = qs.filter(provider_id__in=provider_ids)
    out: dict[int, list[WorkingHours]] = defaultdict(list)
    for row in qs.order_by("weekday", "start_time"):
        out[row.provider_id].append(row)
    return out


def providers_with_hours(*, on: date) -> list[dict]:
    """Every active provider with their week as text per day (two queries)."""
    providers = list(providers_queryset())
    hours = current_hours(provider_ids=[p.pk for p in providers], on=on)
    out = []
    for p in providers:
        days: dict[int, list[str]] = defaultdict(list)
        for row in hours.get(p.pk, []):
            days[row.weekday].append(f"{row.start_time:%H:%M}\u2013{row.end_time:%H:%M}")
        out.append({"provider": p, "days": [", ".join(days.get(d, [])) for d in range(7)]})
    return out


def provider_get(*, provider_id):
    return providers_queryset().filter(pk=provider_id).first()


# ------------------------------------------------------------------ appointment types, templates, units
def appointment_types() -> list[AppointmentType]:
    return list(AppointmentType.objects.order_by("-offered", "name"))


def appointment_type_get(*, type_id) -> AppointmentType | None:
    return AppointmentType.objects.filter(pk=type_id).first()


def note_templates() -> list[NoteTemplate]:
    return list(NoteTemplate.objects.order_by("encounter_type", "-active", "name"))


def note_template_get(*, template_id) -> NoteTemplate | None:
    return NoteTemplate.objects.filter(pk=template_id).first()


def units() -> ClinicUnits:
    return ClinicUnits.current()
