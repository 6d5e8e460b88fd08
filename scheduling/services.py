"""Booking, moving, cancelling and advancing single appointments.

Each service checks the actor's permission through patients.selectors.patient_get (write permission,
record=False) *before* it opens its transaction (so the denied event of an outsider is committed, not rolled back
with the refused work), validates with full_clean(), writes, and queues background work on commit. Models are
registered with django-auditlog (apps.py), so row writes through save() become audit events; the few conditional or
bulk UPDATEs record an access event explicitly."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from core.guarded import patient_id_of as _patient_id_of

from . import signals
from .availability import appointment_validate, availability_enforce
from .guards import door as _door
from .guards import save_guarded as _save_guarded
from .models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Location,
    Room,
)
from .reminders import reminders_plan, reminders_skip
from .task_names import WAITLIST_OFFER_SLOTS


# ------------------------------------------------------------------ appointments
def appointment_book(
    *,
    actor,
    patient_id,
    provider,
    appointment_type: AppointmentType,
    start: datetime,
    location: Location | None = None,
    room: Room | None = None,
    reason: str = "",
    override_reason: str = "",
    request=None,
) -> Appointment:
    """Book one appointment. Who: users holding manage_schedule on the patient (front desk in the department,
    the care team). Refuses time off always, and blocked time or times outside working hours unless
    `override_reason` is given. Raises ValidationError (SlotTaken when another booking won the race)."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    appt = Appointment(
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        start=start,
        end=start + timedelta(minutes=appointment_type.duration_minutes) if start else None,
        location=location or (room.location if room else None),
        room=room,
        reason=(reason or "").strip(),
        override_reason=(override_reason or "").strip()[:200],
        created_by=actor,
    )
    appointment_validate(appt)
    availability_enforce(provider=provider, ranges=[(appt.start, appt.end)], override_reason=override_reason)
    with transaction.atomic():
        _save_guarded(appt, force_insert=True)
        reminders_plan(appt)
    return appt


def appointment_door(*, actor, appointment_id, request=None, perm=roles.MANAGE_SCHEDULE):
    patient_id = _patient_id_of(Appointment, appointment_id, "appointment")
    _door(actor=actor, patient_id=patient_id, perm=perm, category=categories.SCHEDULE, request=request)
    return patient_id


def appointment_locked(appointment_id) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("appointment_type", "room", "provider")
        .get(pk=appointment_id)
    )


def appointment_reschedule(
    *,
    actor,
    appointment_id,
    start: datetime,
    provider=None,
    room=None,
    override_reason: str = "",
    request=None,
) -> Appointment:
    """Move one appointment (for a series occurrence: "this one only"; it keeps its occurrence_start). The slot it
    leaves is offered to the waitlist."""
    appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = appointment_locked(appointment_id)
        if appt.status != AppointmentStatus.SCHEDULED:
            raise ValidationError("Only a scheduled appointment can be moved.")
        old = (appt.provider_id, appt.start, appt.end)
        appt.start = start
        appt.end = start + timedelta(minutes=appt.appointment_type.duration_minutes)
        if provider is not None:
            appt.provider = provider
        if room is not None:
            appt.room = room
        if override_reason:
            appt.override_reason = override_reason.strip()[:200]
        appointment_validate(appt)
        availability_enforce(
            provider=appt.provider, ranges=[(appt.start, appt.end)], override_reason=override_reason
        )
        _save_guarded(appt)
        reminders_plan(appt)
        slot_freed(provider_id=old[0], start=old[1], end=old[2])
    return appt


def slot_freed(*, provider_id, start, end) -> None:
    """After commit, the waitlist_offer task offers the freed slot to the first matching waiting patient."""
    slots_freed([(provider_id, start, end)])


def slots_freed(slots) -> None:
    """Slots freed together (a series moved) go to one task that offers them earliest first: a waiting patient is
    offered the soonest slot that fits, not whichever a concurrent worker happened to reach first."""
    payload = freed_slots_payload(slots)
    if not payload:
        return
    # Sent by name (tasks.py imports the services, not the other way round).
    transaction.on_commit(lambda: current_app.send_task(WAITLIST_OFFER_SLOTS, args=[payload]))


def freed_slots_payload(slots, *, now=None) -> list[list]:
    """The waitlist task's argument: the future slots among (provider_id, start, end), earliest first."""
    now = now or timezone.now()
    future = sorted(((p, s, e) for p, s, e in slots if s > now), key=lambda slot: (slot[1], slot[0]))
    return [[p, s.isoformat(), e.isoformat()] for p, s, e in future]


def cancel_locked(appt: Appointment, reason: str) -> None:
    if appt.status != AppointmentStatus.SCHEDULED:
        raise ValidationError("Only a scheduled appointment can be cancelled.")
    appt.status, appt.cancel_reason = AppointmentStatus.CANCELLED, reason[:200]
    _save_guarded(appt, update_fields=["status", "cancel_reason", "updated_at"])
    reminders_skip(appt, "appointment cancelled")
    slot_freed(provider_id=appt.provider_id, start=appt.start, end=appt.end)


def appointment_cancel(*, actor, appointment_id, reason: str, request=None) -> Appointment:
    """Cancel with a reason. The freed slot is offered to the waitlist by a background task after commit."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the appointment is cancelled."})
    appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = appointment_locked(appointment_id)
        cancel_locked(appt, reason)
    return appt


# Patient flow: each status may move only to the next ones.
FLOW = {
    AppointmentStatus.SCHEDULED: (
        AppointmentStatus.ARRIVED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.NO_SHOW,
    ),
    AppointmentStatus.ARRIVED: (AppointmentStatus.CHECKED_IN,),
    AppointmentStatus.CHECKED_IN: (AppointmentStatus.IN_ROOM, AppointmentStatus.WITH_PROVIDER),
    AppointmentStatus.IN_ROOM: (AppointmentStatus.WITH_PROVIDER,),
    AppointmentStatus.WITH_PROVIDER: (AppointmentStatus.DONE,),
}


def appointment_advance(*, actor, appointment_id, status: str, request=None) -> Appointment:
    """Move an appointment along the patient flow. Receivers of signals.appointment_advanced follow it (the
    clinical record: checking in opens the encounter (once); done finishes it)."""
    appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = appointment_locked(appointment_id)
        if status not in FLOW.get(appt.status, ()):
            raise ValidationError(
                f"An appointment that is \u201c{appt.get_status_display()}\u201d cannot become "
                f"\u201c{AppointmentStatus(status).label if status in AppointmentStatus.values else status}\u201d."
            )
        appt.status = status
        _save_guarded(appt, update_fields=["status", "updated_at"])
        # The clinical record follows the flow (encounters/flow.py opens the encounter at check-in, ends it when
        # done): in this transaction, so a refusal there undoes the status change too.
        signals.appointment_advanced.send(sender=Appointment, appointment=appt, status=status)
        if status == AppointmentStatus.NO_SHOW:
            reminders_skip(appt, "no-show")
    return appt
