"""Demo data for scheduling, called by encounters.demo.demo_build (which books the visits and writes what each
visit records): the clinic's locations, rooms, appointment types and working hours, each provider's day plan, and
the waitlist."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from .models import AppointmentType, Colour, Location, Modality, Room, WaitlistEntry, WorkingHours
from .recurrence import aware

# (name, minutes, colour, modality, encounter type: the kind of encounter checking in opens)
TYPES = [
    ("Follow-up", 20, Colour.BLUE, Modality.IN_PERSON, "office"),
    ("New patient", 40, Colour.GREEN, Modality.IN_PERSON, "office"),
    ("Annual wellness", 40, Colour.AMBER, Modality.IN_PERSON, "wellness"),
    ("Video visit", 20, Colour.PURPLE, Modality.VIDEO, "telehealth"),
    ("Urgent same-day", 20, Colour.GREY, Modality.IN_PERSON, "urgent"),
]

SLOT = timedelta(minutes=20)
DAY_SLOTS = 27  # 08:00-17:00
LUNCH = {12, 13, 14}  # 12:00-13:00 stays free


def types_ensure() -> dict[str, AppointmentType]:
    out = {}
    for name, minutes, colour, modality, etype in TYPES:
        out[name] = AppointmentType.objects.update_or_create(
            name=name,
            defaults={
                "duration_minutes": minutes,
                "colour": colour,
                "modality": modality,
                "encounter_type": etype,
            },
        )[0]
    return out


def clinic_ensure() -> tuple[Location, list[Room]]:
    """The main clinic with four rooms (one per provider) and the eastside office with two."""
    main = Location.objects.get_or_create(name="Main clinic", defaults={"address": "1 Main St, Springfield"})[
        0
    ]
    east = Location.objects.get_or_create(
        name="Eastside office", defaults={"address": "40 East Ave, Springfield"}
    )[0]
    rooms = [Room.objects.get_or_create(location=main, name=f"Room {i}")[0] for i in range(1, 5)]
    for name in ("Room A", "Room B"):
        Room.objects.get_or_create(location=east, name=name)
    return main, rooms


def working_hours_ensure(providers, location: Location, today: date) -> None:
    """Weekdays 08:00-17:00 at `location` for every provider who has no working hours yet."""
    hours = [
        WorkingHours(
            provider=p,
            location=location,
            weekday=d,
            start_time=time(8),
            end_time=time(17),
            effective_from=today - timedelta(days=365),
        )
        for p in providers
        if not WorkingHours.objects.filter(provider=p).exists()
        for d in range(5)
    ]
    WorkingHours.objects.bulk_create(hours)


def slot_start(day: date, slot: int) -> datetime:
    """The start of the day's `slot` (20-minute slots from 08:00, clinic time)."""
    return aware(datetime.combine(day, time(8)) + slot * SLOT)


def day_plan(rng, types: dict[str, AppointmentType], busy: set) -> list[tuple[int, AppointmentType]]:
    """One provider's day about two-thirds full: (slot, type) pairs around lunch and the slots in `busy` (which
    this adds to)."""
    plan = []
    slot = 0
    while slot < DAY_SLOTS:
        atype = rng.choice(
            [types["Follow-up"]] * 4
            + [types["New patient"], types["Annual wellness"], types["Video visit"], types["Urgent same-day"]]
        )
        need = set(range(slot, slot + atype.duration_minutes // 20))
        if max(need) >= DAY_SLOTS or need & (LUNCH | busy) or rng.random() < 0.3:
            slot += 1
            continue
        busy |= need
        plan.append((slot, atype))
        slot = max(need) + 1
    return plan


def waitlist_build(
    *, panels, providers, atype: AppointmentType, today: date, front_desk
) -> list[WaitlistEntry]:
    """Patients hoping for an earlier slot with the first two providers."""
    waiting = []
    for k in range(min(2, len(providers))):
        for patient in panels[k][-2:]:
            waiting.append(
                WaitlistEntry(
                    patient=patient,
                    provider=providers[k],
                    appointment_type=atype,
                    earliest=today,
                    latest=today + timedelta(days=14),
                    created_by=front_desk,
                    note="Prefers mornings",
                )
            )
    WaitlistEntry.objects.bulk_create(waiting)
    return waiting
