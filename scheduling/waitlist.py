"""The waitlist: patients waiting for an earlier slot are offered freed slots, and accept or decline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from core.guarded import clean as _clean
from core.guarded import patient_id_of as _patient_id_of

from .guards import door as _door
from .guards import save_guarded as _save_guarded
from .models import (
    FREE_STATUSES,
    Appointment,
    AppointmentType,
    WaitlistEntry,
    WaitlistStatus,
)
from .services import appointment_book, slot_freed


# ------------------------------------------------------------------ waitlist
def waitlist_add(
    *,
    actor,
    patient_id,
    provider,
    appointment_type: AppointmentType,
    earliest: date,
    latest: date,
    note: str = "",
    request=None,
) -> WaitlistEntry:
    """Put a patient on the waitlist for a provider, a type and a date range. Who: manage_schedule."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    entry = WaitlistEntry(
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        earliest=earliest,
        latest=latest,
        note=(note or "").strip(),
        created_by=actor,
    )
    _clean(entry)
    _save_guarded(entry, force_insert=True)
    return entry


def _slot_key(start: datetime) -> str:
    return start.astimezone(UTC).isoformat()


def waitlist_offer_slot(*, provider_id, start: datetime, end: datetime) -> WaitlistEntry | None:
    """Offer a freed slot to the first waiting patient who fits (provider, date range, duration) and has not
    declined that slot. Called by the waitlist_offer task; safe to run twice (an already offered or rebooked slot
    is not offered again)."""
    with transaction.atomic():
        if (
            Appointment.objects.filter(provider_id=provider_id, start__lt=end, end__gt=start)
            .exclude(status__in=FREE_STATUSES)
            .exists()
        ):
            return None  # rebooked meanwhile
        if WaitlistEntry.objects.filter(
            provider_id=provider_id, status=WaitlistStatus.OFFERED, offered_start=start
        ).exists():
            return None
        day = timezone.localtime(start).date()
        minutes = (end - start).total_seconds() / 60
        entry = (
            WaitlistEntry.objects.select_for_update(skip_locked=True)
            .filter(
                provider_id=provider_id,
                status=WaitlistStatus.WAITING,
                earliest__lte=day,
                latest__gte=day,
                appointment_type__duration_minutes__lte=minutes,
            )
            .exclude(declined__contains=[_slot_key(start)])
            .select_related("appointment_type")
            .order_by("created_at")
            .first()
        )
        if entry is None:
            return None
        entry.status, entry.offered_start, entry.offered_at = WaitlistStatus.OFFERED, start, timezone.now()
        entry.offered_end = start + timedelta(minutes=entry.appointment_type.duration_minutes)
        entry.save(update_fields=["status", "offered_start", "offered_end", "offered_at"])
    return entry


def _entry_door(*, actor, entry_id, request=None):
    patient_id = _patient_id_of(WaitlistEntry, entry_id, "waitlist entry")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )


def waitlist_accept(*, actor, entry_id, request=None) -> Appointment:
    """Book the offered slot for the waiting patient (front desk confirms with the patient first)."""
    _entry_door(actor=actor, entry_id=entry_id, request=request)
    with transaction.atomic():
        entry = (
            WaitlistEntry.objects.select_for_update()
            .select_related("appointment_type", "provider")
            .get(pk=entry_id)
        )
        if entry.status != WaitlistStatus.OFFERED:
            raise ValidationError("There is no open offer for this entry.")
        appt = appointment_book(
            actor=actor,
            patient_id=entry.patient_id,
            provider=entry.provider,
            appointment_type=entry.appointment_type,
            start=entry.offered_start,
            reason=entry.note,
            request=request,
        )
        entry.status, entry.appointment = WaitlistStatus.BOOKED, appt
        entry.save(update_fields=["status", "appointment"])
    return appt


def waitlist_remove(*, actor, entry_id, request=None) -> WaitlistEntry:
    """Take a patient off the waitlist (found another time, no longer needed). An open offer goes to the next
    waiting patient."""
    _entry_door(actor=actor, entry_id=entry_id, request=request)
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry_id)
        if entry.status not in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED):
            raise ValidationError("This patient is no longer on the waitlist.")
        offered = (entry.offered_start, entry.offered_end) if entry.status == WaitlistStatus.OFFERED else None
        entry.status = WaitlistStatus.REMOVED
        entry.save(update_fields=["status"])
        if offered:
            slot_freed(provider_id=entry.provider_id, start=offered[0], end=offered[1])
    return entry


def waitlist_decline(*, actor, entry_id, request=None) -> WaitlistEntry:
    """The patient declines the offered slot but keeps waiting; the slot is offered to the next patient and never
    to this one again."""
    _entry_door(actor=actor, entry_id=entry_id, request=request)
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry_id)
        if entry.status != WaitlistStatus.OFFERED:
            raise ValidationError("There is no open offer to decline.")
        start, end = entry.offered_start, entry.offered_end
        entry.status = WaitlistStatus.WAITING
        entry.declined = [*entry.declined, _slot_key(start)]
        entry.offered_start = entry.offered_end = entry.offered_at = None
        entry.save(update_fields=["status", "declined", "offered_start", "offered_end", "offered_at"])
        slot_freed(provider_id=entry.provider_id, start=start, end=end)
    return entry
