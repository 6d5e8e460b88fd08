"""Writes of the clinic settings: each checks the section's permission first (a refusal is recorded and answers the
403 page), then writes row by row with save()/delete() so django-auditlog records every change (clinic/apps.py)
with the signed-in admin as its actor. A refusal by the database becomes a ValidationError carrying the
constraint's own words (core.guarded), never a raw error, and nothing is half saved."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from core import guarded
from encounters.models import ClinicUnits, NoteTemplate
from scheduling.models import AppointmentType, Location, Room, WorkingHours

from . import selectors
from .access import require

_MESSAGES = {**guarded.constraint_messages("scheduling"), **guarded.constraint_messages("encounters")}


def _save(obj) -> None:
    guarded.save_guarded(obj, messages=_MESSAGES)


def _assign(obj, data: dict, fields: list[str]):
    for f in fields:
        if f in data:
            setattr(obj, f, data[f])
    return obj


# ------------------------------------------------------------------ locations and rooms
LOCATION_FIELDS = ["name", "address"]


def location_save(*, actor, data: dict, location: Location | None = None, request=None) -> Location:
    require(actor, "locations", request)
    obj = _assign(location or Location(), data, LOCATION_FIELDS)
    with transaction.atomic():
        _save(obj)
    return obj


def location_set_active(*, actor, location: Location, active: bool, request=None) -> Location:
    """Close a location (kept for the appointments that name it; booking no longer offers its rooms) or open it
    again. Refused while a provider's working hours still place them there."""
    require(actor, "locations", request)
    if not active:
        hours = selectors.hours_at(location=location, on=selectors.clinic_today())
        if hours:
            who = sorted({h.provider.get_full_name() or h.provider.username for h in hours})
            raise ValidationError(
                f"{location.name} still has working hours ({', '.join(who)}). Move or end those hours first, "
                "then close the location."
            )
    location.active = active
    with transaction.atomic():
        _save(location)
    return location


def room_save(*, actor, location: Location, name: str, room: Room | None = None, request=None) -> Room:
    require(actor, "locations", request)
    obj = room or Room(location=location)
    obj.name = name
    with transaction.atomic():
        _save(obj)
    return obj


def room_set_active(*, actor, room: Room, active: bool, request=None) -> Room:
    require(actor, "locations", request)
    room.active = active
    with transaction.atomic():
        _save(room)
    return room


# ------------------------------------------------------------------ appointment types
TYPE_FIELDS = ["name", "duration_minutes", "colour", "modality", "encounter_type", "offered"]


def appointment_type_save(
    *, actor, data: dict, appointment_type: AppointmentType | None = None, request=None
) -> AppointmentType:
    require(actor, "types", request)
    obj = _assign(appointment_type or AppointmentType(), data, TYPE_FIELDS)
    with transaction.atomic():
        _save(obj)
    return obj


def appointment_type_set_offered(
    *, actor, appointment_type: AppointmentType, offered: bool, request=None
) -> AppointmentType:
    """Offer a type when booking, or stop offering it (appointments already booked with it keep it)."""
    require(actor, "types", request)
    appointment_type.offered = offered
    with transaction.atomic():
        _save(appointment_type)
    return appointment_type


# ------------------------------------------------------------------ note templates and units
TEMPLATE_FIELDS = ["name", "encounter_type", "subjective", "objective", "assessment", "plan", "active"]


def note_template_save(
    *, actor, data: dict, template: NoteTemplate | None = None, request=None
) -> NoteTemplate:
    require(actor, "templates", request)
    obj = _assign(template or NoteTemplate(), data, TEMPLATE_FIELDS)
    with transaction.atomic():
        _save(obj)
    return obj


def units_save(*, actor, data: dict, request=None) -> ClinicUnits:
    """The clinic's units for vital signs (the one row, made on first save). Stored values never change: they
    are kept in UCUM base units; forms, the encounter page, the chart and the trends read in the new units."""
    require(actor, "units", request)
    with transaction.atomic():
        obj = ClinicUnits.objects.select_for_update().filter(pk=1).first() or ClinicUnits(pk=1)
        _assign(obj, data, ["temperature", "weight", "height"])
        _save(obj)
    return obj


# ------------------------------------------------------------------ working hours
@dataclass(frozen=True, order=True)
class Block:
    weekday: int
    start: time
    end: time
    location_id: uuid.UUID


def hours_replace(*, actor, provider, blocks: list[Block], request=None) -> dict[str, int]:
    """Make `blocks` the provider's weekly hours from today on (clinic time).

    Rows already in effect that the grid keeps unchanged stay as they are; a row that started before today and
    is no longer wanted ends yesterday (its history stays true for past visits); rows starting today or later
    that are no longer wanted are removed; new blocks start today. The caller (the grid form) has checked that
    blocks are well formed and do not overlap; the database's constraints still hold in a race. Returns counts."""
    require(actor, "hours", request)
    today = selectors.clinic_today()
    wanted = set(blocks)
    counts = {"kept": 0, "ended": 0, "removed": 0, "added": 0}
    with transaction.atomic():
        rows = list(
            WorkingHours.objects.select_for_update()
            .filter(provider=provider)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
            .order_by("weekday", "start_time")
        )
        for row in rows:
            key = Block(row.weekday, row.start_time, row.end_time, row.location_id)
            if key in wanted and row.effective_from <= today and row.effective_to is None:
                wanted.discard(key)
                counts["kept"] += 1
            elif row.effective_from < today:
                row.effective_to = today - timedelta(days=1)
                _save(row)
                counts["ended"] += 1
            else:
                row.delete()
                counts["removed"] += 1
        for b in sorted(wanted):
            _save(
                WorkingHours(
                    provider=provider,
                    location_id=b.location_id,
                    weekday=b.weekday,
                    start_time=b.start,
                    end_time=b.end,
                    effective_from=today,
                )
            )
            counts["added"] += 1
    return counts
