"""Recurring series (RFC 5545 RRULE): create, extend on a rolling horizon, move or cancel occurrences."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from core.guarded import clean as _clean

from . import recurrence
from .availability import availability_check, availability_enforce
from .guards import SlotTaken
from .guards import door as _door
from .guards import save_guarded as _save_guarded
from .models import (
    FREE_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Location,
    Room,
    Series,
)
from .reminders import reminders_plan
from .services import (
    appointment_cancel,
    appointment_door,
    appointment_locked,
    appointment_reschedule,
    cancel_locked,
    slots_freed,
)


# ------------------------------------------------------------------ recurring series
def _conflicts(*, provider_id, room_id, ranges, exclude_ids=()) -> list[datetime]:
    """Starts of `ranges` that overlap an active appointment of the provider (or the room)."""
    if not ranges:
        return []
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    q = Q(provider_id=provider_id)
    if room_id:
        q |= Q(room_id=room_id)
    busy = list(
        Appointment.objects.filter(q, start__lt=hi, end__gt=lo)
        .exclude(status__in=FREE_STATUSES)
        .exclude(pk__in=list(exclude_ids))
        .values_list("start", "end")
    )
    return [s for s, e in ranges if any(bs < e and be > s for bs, be in busy)]


def _dates(starts: list[datetime], most: int = 6) -> str:
    text = ", ".join(f"{timezone.localtime(s):%a %d %b %Y %H:%M}" for s in starts[:most])
    return text + (f" and {len(starts) - most} more" if len(starts) > most else "")


def _watermark(starts: list[datetime], until: datetime) -> datetime:
    # Stopped by the batch guard: continue after the last occurrence produced, not after `until`.
    return starts[-1] if len(starts) >= recurrence.BATCH_LIMIT else until


def series_create(
    *,
    actor,
    patient_id,
    provider,
    appointment_type: AppointmentType,
    dtstart: datetime,
    rrule: str,
    location: Location | None = None,
    room: Room | None = None,
    reason: str = "",
    override_reason: str = "",
    request=None,
) -> Series:
    """Book a recurring series. Every occurrence up to the rolling horizon (SERIES_HORIZON_DAYS ahead) becomes an
    Appointment row now, or none does: a conflict or an unavailable date refuses the whole series and names the
    dates. Later occurrences are booked by the daily series_extend task as time passes (never dropped: those it
    cannot book are listed on the series as skipped, with the reason)."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    rule = recurrence.rrule_clean(rrule)
    if dtstart is None or timezone.is_naive(dtstart):
        raise ValidationError({"start": "Enter a start time."})
    until = max(timezone.now(), dtstart) + timedelta(days=recurrence.horizon_days())
    starts, more = recurrence.occurrences(rule, dtstart, until=until)
    if not starts:
        raise ValidationError({"rrule": "That rule gives no date from the start chosen."})
    duration = timedelta(minutes=appointment_type.duration_minutes)
    ranges = [(s, s + duration) for s in starts]
    conflicts = _conflicts(provider_id=provider.pk, room_id=room.pk if room else None, ranges=ranges)
    if conflicts:
        raise SlotTaken(
            f"The series conflicts with existing appointments on {_dates(conflicts)}. Nothing was booked."
        )
    try:
        availability_enforce(provider=provider, ranges=ranges, override_reason=override_reason)
    except ValidationError as exc:
        raise ValidationError(" ".join(exc.messages) + " Nothing was booked.") from None
    series = Series(
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        location=location or (room.location if room else None),
        room=room,
        rrule=rule,
        dtstart=dtstart,
        reason=(reason or "").strip(),
        override_reason=(override_reason or "").strip()[:200],
        materialised_until=_watermark(starts, until),
        fully_materialised=not more,
        created_by=actor,
    )
    _clean(series)
    with transaction.atomic():
        series.save(force_insert=True)
        for s, e in ranges:
            appt = Appointment(
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                location=series.location,
                room=room,
                start=s,
                end=e,
                reason=series.reason,
                override_reason=series.override_reason,
                series=series,
                occurrence_start=s,
                created_by=actor,
            )
            _save_guarded(appt, force_insert=True)  # a race on one date rolls the whole series back
            reminders_plan(appt)
    return series


def series_extend(*, series_id, now: datetime | None = None) -> int:
    """Book the occurrences of a series that came within the horizon since it was last extended. Idempotent
    (occurrences that exist are not booked twice). An occurrence that cannot be booked (the slot is taken, the
    provider is away) is recorded in series.skipped with the reason, shown on the patient's appointments page.
    Called by the daily beat task; returns how many appointments it booked."""
    now = now or timezone.now()
    with transaction.atomic():
        series = (
            Series.objects.select_for_update(skip_locked=True)
            .select_related("appointment_type", "provider")
            .filter(pk=series_id, fully_materialised=False)
            .first()
        )
        if series is None:
            return 0
        until = now + timedelta(days=recurrence.horizon_days())
        after = series.materialised_until
        if after is not None and after >= until:
            return 0
        starts, more = recurrence.occurrences(series.rrule, series.dtstart, until=until, after=after)
        watermark = _watermark(starts, until)
        existing = set(
            Appointment.objects.filter(series=series, occurrence_start__in=starts).values_list(
                "occurrence_start", flat=True
            )
        )
        duration = timedelta(minutes=series.appointment_type.duration_minutes)
        ranges = [(s, s + duration) for s in starts if s not in existing]
        busy = set(_conflicts(provider_id=series.provider_id, room_id=series.room_id, ranges=ranges))
        unavailable = {u.start: u for u in availability_check(provider=series.provider, ranges=ranges)}
        created, skipped = 0, list(series.skipped)
        for s, e in ranges:
            u = unavailable.get(s)
            why = (
                "the provider or the room already has an appointment then"
                if s in busy
                else u.why
                if u is not None and (u.hard or not series.override_reason)
                else None
            )
            if why is None:
                appt = Appointment(
                    patient_id=series.patient_id,
                    provider_id=series.provider_id,
                    appointment_type_id=series.appointment_type_id,
                    location_id=series.location_id,
                    room_id=series.room_id,
                    start=s,
                    end=e,
                    reason=series.reason,
                    override_reason=series.override_reason,
                    series=series,
                    occurrence_start=s,
                    created_by=series.created_by,
                )
                try:
                    _save_guarded(appt, force_insert=True)
                except ValidationError as exc:  # booked by someone else a moment ago
                    why = " ".join(exc.messages)
                else:
                    reminders_plan(appt)
                    created += 1
                    continue
            skipped.append({"start": s.isoformat(), "why": why})
        series.materialised_until = watermark
        series.fully_materialised = not more
        series.skipped = skipped
        series.save(update_fields=["materialised_until", "fully_materialised", "skipped"])
    return created


def series_extend_due(*, now: datetime | None = None) -> int:
    """Extend every series whose booked rows end before the horizon (the daily beat task)."""
    now = now or timezone.now()
    horizon = now + timedelta(days=recurrence.horizon_days())
    ids = list(
        Series.objects.filter(fully_materialised=False)
        .filter(Q(materialised_until__isnull=True) | Q(materialised_until__lt=horizon))
        .values_list("pk", flat=True)
    )
    return sum(series_extend(series_id=pk, now=now) for pk in ids)


class Scope:
    THIS = "this"
    FOLLOWING = "following"
    ALL = "all"


def _family(series: Series) -> list[Series]:
    """The series and every part split from the same first one (locked), oldest first."""
    root_id = series.root_id or series.pk
    return list(
        Series.objects.select_for_update()
        .filter(Q(pk=root_id) | Q(root_id=root_id))
        .order_by("dtstart", "created_at")
    )


def _shift(dt: datetime | None, delta: timedelta) -> datetime | None:
    """Wall-clock shift: Monday 09:00 + 1 day is Tuesday 09:00 local time, whatever DST does in between."""
    return recurrence.aware(recurrence.local_naive(dt) + delta) if dt else dt


def series_occurrence_move(
    *,
    actor,
    appointment_id,
    start: datetime,
    scope: str = Scope.THIS,
    override_reason: str = "",
    request=None,
) -> list[Appointment]:
    """Move one occurrence, this and the following ones, or all the future ones of its series (every part of it,
    after earlier splits).

    Wall-clock arithmetic: moving Monday 09:00 to Tuesday 10:00 moves every affected occurrence one day later at
    10:00 local time, across DST changes. Occurrences moved on their own before (exceptions) keep their times
    unless scope is "this". "This and following" from the middle splits the series: the old part ends before
    the occurrence, a new part (same root) carries the rest. All or nothing; the freed slots go to the waitlist."""
    if scope == Scope.THIS:
        return [
            appointment_reschedule(
                actor=actor,
                appointment_id=appointment_id,
                start=start,
                override_reason=override_reason,
                request=request,
            )
        ]
    if scope not in (Scope.FOLLOWING, Scope.ALL):
        raise ValidationError({"scope": "Choose which occurrences to move."})
    patient_id = appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt, series = _move_locked(appointment_id)
        family = _family(series)
        delta = recurrence.local_naive(start) - recurrence.local_naive(appt.occurrence_start)
        pivot = appt.occurrence_start
        rows = _rows_to_move(family, scope=scope, pivot=pivot)
        target = _parts_shift(family, series, scope=scope, pivot=pivot, delta=delta)
        if scope == Scope.FOLLOWING:
            target[series.pk] = _series_split(series, pivot=pivot, delta=delta, actor=actor)
        moved, changed, freed = _rows_shift(rows, appt=appt, delta=delta, target=target)
        ids = [r.pk for r in moved]
        _moved_check(changed, ids=ids, override_reason=override_reason or series.override_reason)
        _rows_save(
            moved, ids=ids, delta=delta, actor=actor, patient_id=patient_id, scope=scope, request=request
        )
        slots_freed(freed)
    return sorted(moved, key=lambda r: r.start)


def _move_locked(appointment_id) -> tuple[Appointment, Series]:
    """The occurrence and its series, locked; refused unless it is a scheduled occurrence of a series."""
    appt = appointment_locked(appointment_id)
    if appt.series_id is None:
        raise ValidationError("That appointment is not part of a series.")
    if appt.status != AppointmentStatus.SCHEDULED:
        raise ValidationError("Only a scheduled appointment can be moved.")
    return appt, Series.objects.select_for_update().get(pk=appt.series_id)


def _rows_to_move(family, *, scope: str, pivot: datetime) -> list[Appointment]:
    """The future scheduled occurrences the move covers, locked, in series order."""
    rows_qs = Appointment.objects.select_for_update().filter(
        series__in=family, status=AppointmentStatus.SCHEDULED, start__gte=timezone.now()
    )
    if scope == Scope.FOLLOWING:
        rows_qs = rows_qs.filter(occurrence_start__gte=pivot)
    return list(rows_qs.select_related("appointment_type").order_by("occurrence_start"))


def _parts_shift(family, series: Series, *, scope: str, pivot: datetime, delta: timedelta) -> dict:
    """Shift the parts of the series the move covers (for "following", the later parts; the occurrence's own part
    is split by _series_split). Returns series id -> the series its rows belong to afterwards."""
    target = {}
    for part in family:
        if scope == Scope.FOLLOWING and part.pk == series.pk:
            continue
        if scope == Scope.FOLLOWING and part.dtstart < pivot:
            continue  # an earlier part: untouched
        part.dtstart = _shift(part.dtstart, delta)
        part.materialised_until = _shift(part.materialised_until, delta)
        part.save(update_fields=["dtstart", "materialised_until"])
        target[part.pk] = part
    return target


def _series_split(series: Series, *, pivot: datetime, delta: timedelta, actor) -> Series:
    """ "This and following": the old part ends before the pivot and a new part (same root) carries the rest; with
    no earlier occurrence the whole part shifts. Returns the series the moved rows belong to."""
    if not Appointment.objects.filter(series=series, occurrence_start__lt=pivot).exists():
        series.dtstart = _shift(series.dtstart, delta)
        series.materialised_until = _shift(series.materialised_until, delta)
        series.save(update_fields=["dtstart", "materialised_until"])
        return series
    done = Appointment.objects.filter(series=series, occurrence_start__lt=pivot).count()
    new = Series(
        patient_id=series.patient_id,
        provider_id=series.provider_id,
        appointment_type_id=series.appointment_type_id,
        location_id=series.location_id,
        room_id=series.room_id,
        rrule=recurrence.rule_remaining(series.rrule, done),
        dtstart=_shift(pivot, delta),
        materialised_until=_shift(series.materialised_until, delta),
        fully_materialised=series.fully_materialised,
        root_id=series.root_id or series.pk,
        reason=series.reason,
        override_reason=series.override_reason,
        created_by=actor,
    )
    new.save(force_insert=True)
    series.rrule = recurrence.rule_with_until(series.rrule, pivot)
    series.fully_materialised = True  # every occurrence before the split exists already
    series.save(update_fields=["rrule", "fully_materialised"])
    return new


def _rows_shift(rows, *, appt: Appointment, delta: timedelta, target: dict) -> tuple[list, list, list]:
    """Shift the rows in memory: every occurrence start; the times of those not moved on their own before (and of
    the one the user moved). Returns (moved, changed, freed slots)."""
    moved, changed, freed = [], [], []
    for row in rows:
        unmodified = row.start == row.occurrence_start
        row.occurrence_start = _shift(row.occurrence_start, delta)
        if unmodified or row.pk == appt.pk:
            freed.append((row.provider_id, row.start, row.end))
            row.start = _shift(row.start, delta)
            row.end = row.start + timedelta(minutes=row.appointment_type.duration_minutes)
            changed.append(row)
        row.series = target.get(row.series_id, row.series)
        moved.append(row)
    return moved, changed, freed


def _moved_check(changed, *, ids: list, override_reason: str) -> None:
    """The new times must be free (other appointments, the room) and bookable (working hours, time off)."""
    for provider_id in {r.provider_id for r in changed}:
        mine = [r for r in changed if r.provider_id == provider_id]
        room_ids = {r.room_id for r in mine}
        busy = _conflicts(
            provider_id=provider_id,
            room_id=next(iter(room_ids)) if len(room_ids) == 1 else None,
            ranges=[(r.start, r.end) for r in mine],
            exclude_ids=ids,
        )
        if busy:
            raise SlotTaken(f"Moving the series would clash with other appointments on {_dates(busy)}.")
        availability_enforce(
            provider=mine[0].provider,
            ranges=[(r.start, r.end) for r in mine],
            override_reason=override_reason,
        )


def _rows_save(moved, *, ids: list, delta: timedelta, actor, patient_id, scope: str, request) -> None:
    """Park the rows out of the way first (a conditional bulk UPDATE, so recorded explicitly), then save them in
    the direction of the move, so that they never trip the constraints by passing each other."""
    Appointment.objects.filter(pk__in=ids).update(occurrence_start=None)
    access_record(
        actor=actor,
        action=Action.UPDATE,
        category=categories.SCHEDULE,
        patient_id=patient_id,
        request=request,
        detail={"series_move": [str(i) for i in ids], "scope": scope},
    )
    for row in sorted(moved, key=lambda r: r.start, reverse=delta > timedelta(0)):
        if row.end <= row.start:
            raise ValidationError({"end": "The end must be after the start."})
        _save_guarded(row)
        reminders_plan(row)


def series_cancel(*, actor, appointment_id, reason: str, scope: str = Scope.THIS, request=None) -> int:
    """Cancel one occurrence, this and the following, or all future ones (across every part of the series).
    Rows stay (status cancelled); the series stops producing new occurrences from that point."""
    if scope == Scope.THIS:
        appointment_cancel(actor=actor, appointment_id=appointment_id, reason=reason, request=request)
        return 1
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the appointments are cancelled."})
    appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = appointment_locked(appointment_id)
        if appt.series_id is None:
            raise ValidationError("That appointment is not part of a series.")
        series = Series.objects.select_for_update().get(pk=appt.series_id)
        family = _family(series)
        now = timezone.now()
        rows = Appointment.objects.select_for_update().filter(
            series__in=family, status=AppointmentStatus.SCHEDULED, start__gte=now
        )
        cut = appt.occurrence_start if scope == Scope.FOLLOWING else now
        if scope == Scope.FOLLOWING:
            rows = rows.filter(occurrence_start__gte=appt.occurrence_start)
        rows = list(rows.select_related("appointment_type"))
        for part in family:
            if part.dtstart >= cut or part.pk == series.pk or scope == Scope.ALL:
                if part.dtstart < cut:
                    part.rrule = recurrence.rule_with_until(part.rrule, cut)
                part.fully_materialised = True
                part.save(update_fields=["rrule", "fully_materialised"])
        for row in rows:
            cancel_locked(row, reason)
    return len(rows)
