"""Appointments: a calendar filled to FILL of its slots around today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import connection

from .. import sizes
from ..copy import Table
from .base import SeedContext, _uuid, register
from .charts import patients_load
from .reference import reference_load
from .visits import REASONS

# ------------------------------------------------------------------ appointments
APPOINTMENT_FIELDS = [
    "id",
    "patient",
    "provider",
    "appointment_type",
    "location",
    "room",
    "start",
    "end",
    "status",
    "reason",
    "cancel_reason",
    "created_by",
    "created_at",
    "updated_at",
]
SLOT_MINUTES = 20
SLOTS_PER_DAY = 27  # 08:00 to 17:00
FILL = 0.72  # share of slots booked


def appointment_days(count: int) -> tuple[date, date]:
    """The weekdays the appointments span: enough for `count` at FILL, three quarters before today (history),
    a quarter ahead; today is always inside."""
    weekdays = max(2, round(count / (sizes.PROVIDERS * SLOTS_PER_DAY * FILL)))
    days = round(weekdays * 7 / 5)
    today = date.today()
    return today - timedelta(days=days * 3 // 4), today + timedelta(days=max(1, days - days * 3 // 4))


@register(name="appointments", order=45)
def seed_appointments(ctx: SeedContext) -> int:
    """Appointments for the 50 providers on weekdays 08:00-17:00 (clinic time), 20-minute slots, each provider in
    their own room, so neither exclusion constraint (provider, room) can be violated; FILL of the slots booked.
    Past ones are done (some no-shows and cancellations), today's move through the patient flow, future ones are
    scheduled."""
    n = ctx.counts.get("appointments", 0)
    if not n:
        return 0
    reference_load(ctx)
    patients_load(ctx)
    if not ctx.patient_ids:
        ctx.note("appointments skipped: no bench patients")
        return 0
    from scheduling.recurrence import clinic_tz

    tz = clinic_tz()
    rng, ref = ctx.rng, ctx.ref
    first, last = appointment_days(n)
    with connection.cursor() as cur:  # a top-up must not book slots an earlier seed took
        cur.execute(
            "SELECT min(start), max(start) FROM encounters_appointment WHERE location_id = %s",
            [ref.location_id],
        )
        lo, hi = cur.fetchone()
    if lo is not None:
        first = max(first, hi.astimezone(tz).date() + timedelta(days=1))
        last = max(last, first + (last - first))
    today = date.today()
    now = datetime.now(UTC)
    providers = [p.pk for p in ctx.providers]
    appts = Table("scheduling.Appointment", APPOINTMENT_FIELDS)
    desk = ctx.front_desk.pk
    flow = ["done", "with_provider", "in_room", "checked_in", "arrived"]

    def rows():
        made = 0
        day = first
        while made < n:
            if day.weekday() < 5:
                for pi, provider in enumerate(providers):
                    for s in range(SLOTS_PER_DAY):
                        if made >= n:
                            return
                        if rng.random() >= FILL:
                            continue
                        start = datetime(day.year, day.month, day.day, 8, tzinfo=tz) + timedelta(
                            minutes=SLOT_MINUTES * s
                        )
                        end = start + timedelta(minutes=SLOT_MINUTES)
                        r = rng.random()
                        cancel = ""
                        if day < today or (day == today and end <= now):
                            status = "done" if r < 0.85 else "no_show" if r < 0.9 else "cancelled"
                        elif day == today:
                            status = rng.choice(flow) if start <= now else "scheduled"
                        else:
                            status = "scheduled" if r < 0.95 else "cancelled"
                        if status == "cancelled":
                            cancel = "Patient asked to reschedule"
                        booked = (start - timedelta(days=rng.randrange(1, 60))).isoformat()
                        yield (
                            _uuid(rng),
                            rng.choice(ctx.patient_ids),
                            provider,
                            rng.choice(ref.types),
                            ref.location_id,
                            ref.rooms[pi],
                            start.isoformat(),
                            end.isoformat(),
                            status,
                            rng.choice(list(REASONS)),
                            cancel,
                            desk,
                            booked,
                            booked,
                        )
                        made += 1
            day += timedelta(days=1)

    return ctx.loaded(appts.table, appts.copy(rows()))
