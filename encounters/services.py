"""Every write of scheduling and encounter data.

Each service checks the actor's permission through patients.selectors.patient_get (write permission, record=False)
before it opens its transaction, validates with full_clean(), writes, and queues background work on commit.
Models are registered with django-auditlog (apps.py), so row writes become audit events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.models import AllergyStatus as BannerStatus
from patients.models import Patient
from patients.selectors import patient_get

from . import recurrence, vitals
from .models import (
    FREE_STATUSES,
    Addendum,
    Allergy,
    AllergyStatus,
    AmendmentRequest,
    AmendmentStatus,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Encounter,
    EncounterStatus,
    EncounterType,
    Icd10Code,
    Location,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteStatus,
    NoteTemplate,
    Problem,
    ProblemStatus,
    Reminder,
    ReminderChannel,
    ReminderStatus,
    Room,
    Series,
    VitalSigns,
    WaitlistEntry,
    WaitlistStatus,
)
from .selectors import CRITICALITY_RANK


# ------------------------------------------------------------------ allergies
def _banner_sync(patient_id, *, nka: bool = False) -> None:
    """Keep Patient.allergy_status / allergy_summary (the banner) true to the active allergies.

    "has" when any allergy is active; "nka" only when a user said so explicitly (and nothing active since);
    otherwise "unknown" — resolving the last allergy does not mean "no known allergies".
    """
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    names = list(
        Allergy.objects.filter(patient_id=patient_id, status=AllergyStatus.ACTIVE)
        .order_by(CRITICALITY_RANK, "substance_text")
        .values_list("substance_text", flat=True)
    )
    if names:
        status = BannerStatus.HAS
    elif nka or patient.allergy_status == BannerStatus.NKA:
        status = BannerStatus.NKA
    else:
        status = BannerStatus.UNKNOWN
    summary = ", ".join(names)
    if len(summary) > 200:
        summary = summary[:199] + "\u2026"
    if (patient.allergy_status, patient.allergy_summary) != (status, summary):
        patient.allergy_status, patient.allergy_summary = status, summary
        patient.save(update_fields=["allergy_status", "allergy_summary", "updated_at"])


def allergy_record(
    *,
    actor,
    patient_id,
    substance_text: str,
    category: str,
    criticality: str = "low",
    severity: str = "",
    reaction: str = "",
    substance_rxcui: str = "",
    onset_date: date | None = None,
    request=None,
) -> Allergy:
    """Record an allergy. Who: users holding change_clinical on the patient (clinicians, nurses)."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
        record=False,
    )
    allergy = Allergy(
        patient=patient,
        substance_text=(substance_text or "").strip(),
        category=category,
        criticality=criticality or "low",
        severity=severity or "",
        reaction=(reaction or "").strip(),
        substance_rxcui=(substance_rxcui or "").strip(),
        onset_date=onset_date,
        recorded_by=actor,
    )
    allergy.full_clean()
    with transaction.atomic():
        allergy.save(force_insert=True)
        _banner_sync(patient.pk)
    return allergy


def allergy_status_set(*, actor, allergy_id, status: str, request=None) -> Allergy:
    """Mark an allergy inactive, resolved or entered in error. Who: change_clinical on its patient."""
    try:
        patient_id = Allergy.objects.values_list("patient_id", flat=True).get(pk=allergy_id)
    except (Allergy.DoesNotExist, ValidationError, ValueError):
        raise Http404("No allergy found") from None
    patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
        record=False,
    )
    if status not in AllergyStatus.values:
        raise ValidationError({"status": "Unknown status."})
    with transaction.atomic():
        allergy = Allergy.objects.select_for_update().get(pk=allergy_id)
        allergy.status = status
        allergy.save(update_fields=["status"])
        _banner_sync(patient_id)
    return allergy


def allergy_none_known(*, actor, patient_id, request=None) -> Patient:
    """Record "No known allergies" explicitly. Refused while an allergy is active (resolve it first)."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
        record=False,
    )
    if Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE).exists():
        raise ValidationError(
            "The patient has active allergies; resolve or correct them before recording "
            "\u201cno known allergies\u201d."
        )
    with transaction.atomic():
        _banner_sync(patient.pk, nka=True)
    patient.refresh_from_db(fields=["allergy_status", "allergy_summary"])
    return patient


# ------------------------------------------------------------------ medications
def medication_record(
    *,
    actor,
    patient_id,
    name: str,
    dose_text: str = "",
    rxcui: str = "",
    source: str = MedicationSource.PATIENT_REPORTED,
    started_on: date | None = None,
    request=None,
) -> MedicationStatement:
    """Add a medication to the list (usually one the patient reports). Who: change_clinical on the patient."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.MEDICATIONS,
        request=request,
        record=False,
    )
    med = MedicationStatement(
        patient=patient,
        name=(name or "").strip(),
        dose_text=(dose_text or "").strip(),
        rxcui=(rxcui or "").strip(),
        source=source,
        started_on=started_on,
        recorded_by=actor,
    )
    med.full_clean()
    med.save(force_insert=True)
    return med


def medication_stop(
    *,
    actor,
    medication_id,
    status: str = MedicationStatus.STOPPED,
    stopped_on: date | None = None,
    request=None,
) -> MedicationStatement:
    """Stop (or mark completed / entered in error) a medication. Who: change_clinical on its patient."""
    try:
        patient_id = MedicationStatement.objects.values_list("patient_id", flat=True).get(pk=medication_id)
    except (MedicationStatement.DoesNotExist, ValidationError, ValueError):
        raise Http404("No medication found") from None
    patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.MEDICATIONS,
        request=request,
        record=False,
    )
    if status not in (MedicationStatus.STOPPED, MedicationStatus.COMPLETED, MedicationStatus.ERROR):
        raise ValidationError({"status": "Unknown status."})
    with transaction.atomic():
        med = MedicationStatement.objects.select_for_update().get(pk=medication_id)
        med.status = status
        med.stopped_on = stopped_on or timezone.localdate()
        med.full_clean()
        med.save(update_fields=["status", "stopped_on"])
    return med


def medication_record_prescribed(
    *, patient, rxcui: str, name: str, dose_text: str, prescription_id, actor
) -> MedicationStatement:
    """Called by e-prescribing when a prescription is signed (inside its transaction); the caller has already
    checked the prescribe permission. Idempotent per prescription: signing twice does not list the drug twice."""
    existing = MedicationStatement.objects.filter(patient=patient, prescription_id=prescription_id).first()
    if existing is not None:
        return existing
    med = MedicationStatement(
        patient=patient,
        rxcui=rxcui or "",
        name=name,
        dose_text=dose_text or "",
        source=MedicationSource.PRESCRIBED,
        status=MedicationStatus.ACTIVE,
        started_on=timezone.localdate(),
        prescription_id=prescription_id,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    med.full_clean()
    med.save(force_insert=True)
    return med


# ------------------------------------------------------------------ scheduling
class SlotTaken(ValidationError):
    """Another booking holds the slot (the exclusion constraint said no)."""


_CONSTRAINT_MESSAGES = {
    "appt_no_provider_double_booking": "That time was just taken: the provider already has an appointment then. "
    "Choose another slot.",
    "appt_no_room_double_booking": "That room was just booked for that time. Choose another room or slot.",
    "appt_unique_occurrence": "That occurrence of the series already exists.",
}


def _save_guarded(obj, **kwargs) -> None:
    """Save in a savepoint; turn the database's double-booking refusal into a message (two people raced)."""
    try:
        with transaction.atomic():
            obj.save(**kwargs)
    except IntegrityError as exc:
        text = str(exc)
        for name, message in _CONSTRAINT_MESSAGES.items():
            if name in text:
                raise SlotTaken(message) from None
        raise


def _validate_appointment(appt: Appointment) -> None:
    if appt.start is None or appt.end is None:
        raise ValidationError({"start": "Enter a start time."})
    if timezone.is_naive(appt.start) or timezone.is_naive(appt.end):
        raise ValidationError({"start": "Times must carry a time zone."})
    if appt.end <= appt.start:
        raise ValidationError({"end": "The end must be after the start."})
    if appt.room_id and appt.location_id and appt.room.location_id != appt.location_id:
        raise ValidationError({"room": "That room is in another location."})
    # Constraint checks here give the usual message; the database still decides a race (_save_guarded).
    try:
        appt.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.messages) from None


def _reminders_plan(appt: Appointment) -> None:
    """(Re)plan the reminders of an appointment: one per channel, due `lead` before it (idempotent)."""
    lead = timedelta(hours=getattr(settings, "APPOINTMENT_REMINDER_HOURS", 24))
    due = max(appt.start - lead, timezone.now())
    for channel in (ReminderChannel.EMAIL, ReminderChannel.SMS):
        Reminder.objects.update_or_create(
            appointment=appt,
            channel=channel,
            defaults={
                "patient_id": appt.patient_id,
                "due_at": due,
                "status": ReminderStatus.PENDING,
                "sent_at": None,
                "detail": "",
            },
        )


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
    request=None,
) -> Appointment:
    """Book one appointment. Who: users holding manage_schedule on the patient (front desk in the department,
    the care team). Raises ValidationError (SlotTaken when another booking won the race)."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
        record=False,
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
        created_by=actor,
    )
    _validate_appointment(appt)
    with transaction.atomic():
        _save_guarded(appt, force_insert=True)
        _reminders_plan(appt)
    return appt


def _appointment_for_update(
    *, actor, appointment_id, request=None, perm=roles.MANAGE_SCHEDULE
) -> Appointment:
    try:
        patient_id = Appointment.objects.values_list("patient_id", flat=True).get(pk=appointment_id)
    except (Appointment.DoesNotExist, ValidationError, ValueError):
        raise Http404("No appointment found") from None
    patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=perm,
        category=categories.SCHEDULE,
        request=request,
        record=False,
    )
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("appointment_type", "room")
        .get(pk=appointment_id)
    )


def appointment_reschedule(
    *, actor, appointment_id, start: datetime, provider=None, room=None, request=None
) -> Appointment:
    """Move one appointment (for a series occurrence: "this one only"; it keeps its occurrence_start)."""
    with transaction.atomic():
        appt = _appointment_for_update(actor=actor, appointment_id=appointment_id, request=request)
        if not appt.active or appt.status == AppointmentStatus.DONE:
            raise ValidationError("Only a scheduled appointment can be moved.")
        old = (appt.provider_id, appt.start, appt.end)
        appt.start = start
        appt.end = start + timedelta(minutes=appt.appointment_type.duration_minutes)
        if provider is not None:
            appt.provider = provider
        if room is not None:
            appt.room = room
        _validate_appointment(appt)
        _save_guarded(appt)
        _reminders_plan(appt)
        _slot_freed(provider_id=old[0], start=old[1], end=old[2], type_id=appt.appointment_type_id)
    return appt


def _slot_freed(*, provider_id, start, end, type_id) -> None:
    if start > timezone.now():
        from .tasks import waitlist_offer

        transaction.on_commit(lambda: waitlist_offer.delay(provider_id, start.isoformat(), end.isoformat()))


def appointment_cancel(*, actor, appointment_id, reason: str, request=None) -> Appointment:
    """Cancel with a reason. The freed slot is offered to the waitlist by a background task after commit."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the appointment is cancelled."})
    with transaction.atomic():
        appt = _appointment_for_update(actor=actor, appointment_id=appointment_id, request=request)
        if appt.status != AppointmentStatus.SCHEDULED:
            raise ValidationError("Only a scheduled appointment can be cancelled.")
        appt.status, appt.cancel_reason = AppointmentStatus.CANCELLED, reason[:200]
        appt.save(update_fields=["status", "cancel_reason", "updated_at"])
        Reminder.objects.filter(appointment=appt, status=ReminderStatus.PENDING).update(
            status=ReminderStatus.SKIPPED
        )
        _slot_freed(
            provider_id=appt.provider_id, start=appt.start, end=appt.end, type_id=appt.appointment_type_id
        )
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
    """Move an appointment along the patient flow. Checking in opens the encounter (once)."""
    with transaction.atomic():
        appt = _appointment_for_update(actor=actor, appointment_id=appointment_id, request=request)
        if status not in FLOW.get(appt.status, ()):
            raise ValidationError(
                f"An appointment that is \u201c{appt.get_status_display()}\u201d cannot become "
                f"\u201c{AppointmentStatus(status).label if status in AppointmentStatus.values else status}\u201d."
            )
        appt.status = status
        appt.save(update_fields=["status", "updated_at"])
        if status == AppointmentStatus.CHECKED_IN and not Encounter.objects.filter(appointment=appt).exists():
            Encounter.objects.create(
                patient_id=appt.patient_id,
                appointment=appt,
                provider_id=appt.provider_id,
                location_id=appt.location_id,
                reason=appt.reason or appt.appointment_type.name,
                encounter_type=appt.appointment_type.encounter_type
                if appt.appointment_type.encounter_type in EncounterType.values
                else EncounterType.OFFICE,
                status=EncounterStatus.IN_PROGRESS,
                start=timezone.now(),
            )
        if status == AppointmentStatus.DONE:
            Encounter.objects.filter(appointment=appt, end__isnull=True).update(
                end=timezone.now(), status=EncounterStatus.FINISHED
            )
        if status == AppointmentStatus.NO_SHOW:
            Reminder.objects.filter(appointment=appt, status=ReminderStatus.PENDING).update(
                status=ReminderStatus.SKIPPED
            )
    return appt


# ------------------------------------------------------------------ recurring series
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
    request=None,
) -> Series:
    """Book a recurring series: every occurrence within the horizon becomes an Appointment row, or none does
    (a conflict on any date refuses the whole series and names the dates)."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
        record=False,
    )
    rule = recurrence.rrule_clean(rrule)
    if dtstart is None or timezone.is_naive(dtstart):
        raise ValidationError({"start": "Enter a start time."})
    series = Series(
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        location=location or (room.location if room else None),
        room=room,
        rrule=rule,
        dtstart=dtstart,
        reason=(reason or "").strip(),
        created_by=actor,
    )
    starts = recurrence.occurrences(rule, dtstart)
    duration = timedelta(minutes=appointment_type.duration_minutes)
    conflicts = _conflicts(
        provider_id=provider.pk, room_id=room.pk if room else None, ranges=[(s, s + duration) for s in starts]
    )
    if conflicts:
        tz = recurrence.clinic_tz()
        raise SlotTaken(
            "The series conflicts with existing appointments on "
            + ", ".join(f"{c.astimezone(tz):%a %d %b %H:%M}" for c in conflicts[:6])
            + (" \u2026" if len(conflicts) > 6 else "")
            + ". Nothing was booked."
        )
    with transaction.atomic():
        series.materialised_until = starts[-1] if starts else dtstart
        series.full_clean()
        series.save(force_insert=True)
        rows = [
            Appointment(
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                location=series.location,
                room=room,
                start=s,
                end=s + duration,
                reason=series.reason,
                series=series,
                occurrence_start=s,
                created_by=actor,
            )
            for s in starts
        ]
        for appt in rows:
            _save_guarded(appt, force_insert=True)  # a race on one date rolls the whole series back
            _reminders_plan(appt)
    return series


def _conflicts(*, provider_id, room_id, ranges, exclude_ids=()) -> list[datetime]:
    if not ranges:
        return []
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    q = Q(provider_id=provider_id)
    if room_id:
        q |= Q(room_id=room_id)
    busy = list(
        Appointment.objects.filter(q, start__lt=hi, end__gt=lo)
        .exclude(status__in=FREE_STATUSES)
        .exclude(pk__in=exclude_ids)
        .values_list("start", "end")
    )
    return [s for s, e in ranges if any(bs < e and be > s for bs, be in busy)]


class Scope:
    THIS = "this"
    FOLLOWING = "following"
    ALL = "all"


def series_occurrence_move(
    *, actor, appointment_id, start: datetime, scope: str = Scope.THIS, request=None
) -> list[Appointment]:
    """Move one occurrence, this and the following ones, or all the future ones of its series.

    Wall-clock arithmetic: moving Monday 09:00 to Tuesday 10:00 moves every affected occurrence one day later at
    10:00 local time, across DST changes. Occurrences moved on their own before (exceptions) keep their times
    unless scope is "this". All or nothing."""
    if scope == Scope.THIS:
        return [
            appointment_reschedule(actor=actor, appointment_id=appointment_id, start=start, request=request)
        ]
    with transaction.atomic():
        appt = _appointment_for_update(actor=actor, appointment_id=appointment_id, request=request)
        if appt.series_id is None:
            raise ValidationError("That appointment is not part of a series.")
        series = Series.objects.select_for_update().get(pk=appt.series_id)
        delta = recurrence.local_naive(start) - recurrence.local_naive(appt.occurrence_start)
        now = timezone.now()
        rows = Appointment.objects.select_for_update().filter(
            series=series, status=AppointmentStatus.SCHEDULED, start__gte=now
        )
        if scope == Scope.FOLLOWING:
            rows = rows.filter(occurrence_start__gte=appt.occurrence_start)
        rows = list(rows.order_by("occurrence_start"))
        if (
            scope == Scope.FOLLOWING
            and Appointment.objects.filter(series=series, occurrence_start__lt=appt.occurrence_start).exists()
        ):
            # Split: the old series ends before this occurrence; a new one carries the rest.
            done = Appointment.objects.filter(
                series=series, occurrence_start__lt=appt.occurrence_start
            ).count()
            new = Series.objects.create(
                patient_id=series.patient_id,
                provider_id=series.provider_id,
                appointment_type_id=series.appointment_type_id,
                location_id=series.location_id,
                room_id=series.room_id,
                rrule=recurrence.rule_remaining(series.rrule, done),
                dtstart=recurrence.aware(recurrence.local_naive(appt.occurrence_start) + delta),
                materialised_until=series.materialised_until,
                reason=series.reason,
                created_by=actor,
            )
            series.rrule = recurrence.rule_with_until(series.rrule, appt.occurrence_start)
            series.save(update_fields=["rrule"])
            target = new
        else:
            series.dtstart = recurrence.aware(recurrence.local_naive(series.dtstart) + delta)
            series.save(update_fields=["dtstart"])
            target = series
        moved = []
        for row in rows:
            unmodified = row.start == row.occurrence_start
            row.occurrence_start = recurrence.aware(recurrence.local_naive(row.occurrence_start) + delta)
            if unmodified or row.pk == appt.pk:
                row.start = recurrence.aware(recurrence.local_naive(row.start) + delta)
                row.end = row.start + timedelta(minutes=appt.appointment_type.duration_minutes)
            row.series = target
            moved.append(row)
        # Park the rows out of the way first, so moving them past each other never trips the constraints.
        Appointment.objects.filter(pk__in=[r.pk for r in moved]).update(occurrence_start=None)
        for row in moved:
            _validate_appointment_times(row)
            _save_guarded(row)
            _reminders_plan(row)
    return moved


def _validate_appointment_times(appt: Appointment) -> None:
    if appt.end <= appt.start:
        raise ValidationError({"end": "The end must be after the start."})


def series_cancel(*, actor, appointment_id, reason: str, scope: str = Scope.THIS, request=None) -> int:
    """Cancel one occurrence, this and the following, or all future ones. Rows stay (status cancelled)."""
    if scope == Scope.THIS:
        appointment_cancel(actor=actor, appointment_id=appointment_id, reason=reason, request=request)
        return 1
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the appointments are cancelled."})
    with transaction.atomic():
        appt = _appointment_for_update(actor=actor, appointment_id=appointment_id, request=request)
        if appt.series_id is None:
            raise ValidationError("That appointment is not part of a series.")
        rows = Appointment.objects.filter(
            series_id=appt.series_id, status=AppointmentStatus.SCHEDULED, start__gte=timezone.now()
        )
        if scope == Scope.FOLLOWING:
            rows = rows.filter(occurrence_start__gte=appt.occurrence_start)
        ids = list(rows.values_list("pk", flat=True))
        for pk in ids:
            appointment_cancel(actor=actor, appointment_id=pk, reason=reason, request=request)
    return len(ids)


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
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
        record=False,
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
    entry.full_clean()
    entry.save(force_insert=True)
    return entry


def waitlist_offer_slot(*, provider_id, start: datetime, end: datetime) -> WaitlistEntry | None:
    """Offer a freed slot to the first waiting patient who fits (provider, date range, duration). Called by the
    waitlist_offer task; safe to run twice (an already offered or rebooked slot is not offered again)."""
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
            .order_by("created_at")
            .first()
        )
        if entry is None:
            return None
        entry.status, entry.offered_start, entry.offered_at = WaitlistStatus.OFFERED, start, timezone.now()
        entry.offered_end = start + timedelta(minutes=entry.appointment_type.duration_minutes)
        entry.save(update_fields=["status", "offered_start", "offered_end", "offered_at"])
        access_record(
            actor=None,
            action=Action.UPDATE,
            category=categories.SCHEDULE,
            patient_id=entry.patient_id,
            channel="task",
            detail={"waitlist_offer": str(entry.pk)},
        )
    return entry


def waitlist_accept(*, actor, entry_id, request=None) -> Appointment:
    """Book the offered slot for the waiting patient (front desk confirms with the patient first)."""
    try:
        entry = WaitlistEntry.objects.select_related("appointment_type").get(pk=entry_id)
    except (WaitlistEntry.DoesNotExist, ValidationError, ValueError):
        raise Http404("No waitlist entry") from None
    patient_get(
        actor=actor,
        patient_id=entry.patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
        record=False,
    )
    if entry.status != WaitlistStatus.OFFERED:
        raise ValidationError("There is no open offer for this entry.")
    with transaction.atomic():
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
    try:
        entry = WaitlistEntry.objects.get(pk=entry_id)
    except (WaitlistEntry.DoesNotExist, ValidationError, ValueError):
        raise Http404("No waitlist entry") from None
    patient_get(
        actor=actor,
        patient_id=entry.patient_id,
        perm=roles.MANAGE_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
        record=False,
    )
    entry.status = WaitlistStatus.REMOVED
    entry.save(update_fields=["status"])
    return entry


# ------------------------------------------------------------------ reminders
def reminders_send_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Send the reminders that are due. Idempotent: a row is claimed (pending -> sent) by a conditional UPDATE
    before anything leaves, so two beat runs never send twice. Messages carry no clinical content."""
    from .notify import send_email_reminder, send_sms_reminder

    now = now or timezone.now()
    sent = 0
    due = list(
        Reminder.objects.filter(status=ReminderStatus.PENDING, due_at__lte=now)
        .select_related("appointment", "patient")
        .order_by("due_at")[:batch]
    )
    for r in due:
        claimed = Reminder.objects.filter(pk=r.pk, status=ReminderStatus.PENDING).update(
            status=ReminderStatus.SENT, sent_at=now
        )
        if not claimed:
            continue
        appt = r.appointment
        if not appt.active or appt.start <= now:
            Reminder.objects.filter(pk=r.pk).update(
                status=ReminderStatus.SKIPPED, detail="no longer scheduled"
            )
            continue
        try:
            ok = (send_email_reminder if r.channel == ReminderChannel.EMAIL else send_sms_reminder)(
                patient=r.patient, appointment=appt
            )
        except Exception as exc:  # a provider outage must not stop the other reminders
            Reminder.objects.filter(pk=r.pk).update(status=ReminderStatus.FAILED, detail=str(exc)[:200])
            continue
        if not ok:
            Reminder.objects.filter(pk=r.pk).update(
                status=ReminderStatus.SKIPPED, detail="no contact on file"
            )
            continue
        sent += 1
        access_record(
            actor=None,
            action=Action.TRANSMIT,
            category=categories.SCHEDULE,
            patient_id=r.patient_id,
            channel="task",
            detail={"reminder": r.channel},
        )
    return sent


# ------------------------------------------------------------------ encounters and notes
def encounter_start(
    *,
    actor,
    patient_id,
    encounter_type: str = EncounterType.OFFICE,
    reason: str = "",
    location: Location | None = None,
    request=None,
) -> Encounter:
    """Open an encounter without an appointment (walk-in, phone). Who: change_clinical on the patient."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ENCOUNTER,
        request=request,
        record=False,
    )
    enc = Encounter(
        patient=patient,
        encounter_type=encounter_type,
        reason=(reason or "").strip(),
        provider=actor,
        location=location,
        status=EncounterStatus.IN_PROGRESS,
        start=timezone.now(),
    )
    enc.full_clean()
    enc.save(force_insert=True)
    return enc


def encounter_for_write(*, actor, encounter_id, request=None, category=categories.ENCOUNTER) -> Encounter:
    try:
        enc = Encounter.objects.get(pk=encounter_id)
    except (Encounter.DoesNotExist, ValidationError, ValueError):
        raise Http404("No encounter found") from None
    enc.patient = patient_get(
        actor=actor,
        patient_id=enc.patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=category,
        request=request,
        record=False,
    )
    return enc


def note_create(*, actor, encounter_id, template: NoteTemplate | None = None, request=None) -> Note:
    """Start a draft SOAP note, pre-filled from the template of the encounter's type (or the one given)."""
    enc = encounter_for_write(
        actor=actor, encounter_id=encounter_id, request=request, category=categories.CLINICAL_NOTE
    )
    template = template or NoteTemplate.objects.filter(encounter_type=enc.encounter_type, active=True).first()
    note = Note(encounter=enc, patient_id=enc.patient_id, author=actor)
    if template:
        for f in NOTE_SECTIONS:
            setattr(note, f, getattr(template, f))
    note.save(force_insert=True)
    return note


NOTE_SECTIONS = ("subjective", "objective", "assessment", "plan")


class NoteConflict(ValidationError):
    """Someone else saved the note since this editor loaded it."""


def _note_for_write(*, actor, note_id, request=None) -> Note:
    try:
        note = Note.objects.get(pk=note_id)
    except (Note.DoesNotExist, ValidationError, ValueError):
        raise Http404("No note found") from None
    note.patient = patient_get(
        actor=actor,
        patient_id=note.patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.CLINICAL_NOTE,
        request=request,
        record=False,
    )
    return note


def note_save_draft(*, actor, note_id, version: int, data: dict, request=None) -> Note:
    """Save a draft (autosave). UPDATE ... WHERE version = expected AND status = draft: a concurrent save or a
    signature makes this one fail with a clear message instead of silently overwriting."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    values = {f: str(data.get(f, getattr(note, f)) or "")[:20000] for f in NOTE_SECTIONS}
    updated = Note.objects.filter(pk=note.pk, version=version, status=NoteStatus.DRAFT).update(
        **values, version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        note.refresh_from_db()
        if note.signed:
            raise NoteConflict(
                "This note has been signed; it can no longer be edited. Add an addendum instead."
            )
        raise NoteConflict(
            f"Someone else saved this note since you opened it (now version {note.version}). "
            "Your text was not saved: copy it, reload the note and merge the changes."
        )
    note.refresh_from_db()
    return note


def note_hash(note: Note) -> str:
    payload = json.dumps(
        {
            "note": str(note.pk),
            "encounter": str(note.encounter_id),
            "patient": str(note.patient_id),
            **{f: getattr(note, f) for f in NOTE_SECTIONS},
            "signed_by": note.signed_by_id,
            # In UTC: the same instant read back from the database must give the same hash.
            "signed_at": note.signed_at.astimezone(UTC).isoformat(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def note_sign(*, actor, note_id, version: int, request=None) -> Note:
    """Sign the note as it stands at `version`: it is locked and its SHA-256 recorded. Who: the author, or the
    encounter's provider, holding change_clinical. Afterwards only addenda."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    with transaction.atomic():
        note = Note.objects.select_for_update(of=("self",)).select_related("encounter").get(pk=note.pk)
        if note.signed:
            raise NoteConflict("This note is already signed.")
        if note.version != version:
            raise NoteConflict(
                "The note changed since you opened it; review the latest version before signing."
            )
        if actor.pk not in (note.author_id, note.encounter.provider_id):
            raise PermissionDenied("Only the author or the encounter's provider signs this note.")
        if not any(getattr(note, f).strip() for f in NOTE_SECTIONS):
            raise ValidationError("An empty note cannot be signed.")
        note.status, note.signed_by, note.signed_at = NoteStatus.SIGNED, actor, timezone.now()
        note.content_hash = note_hash(note)
        note.version += 1
        note.full_clean()
        note.save(update_fields=["status", "signed_by", "signed_at", "content_hash", "version", "updated_at"])
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.CLINICAL_NOTE,
            patient_id=note.patient_id,
            request=request,
            detail={"note": str(note.pk), "sha256": note.content_hash},
        )
    return note


def addendum_add(*, actor, note_id, text: str, request=None) -> Addendum:
    """Append to a signed note (the signed text itself never changes)."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    text = (text or "").strip()
    if not note.signed:
        raise ValidationError("The note is still a draft: edit it instead of adding an addendum.")
    if not text:
        raise ValidationError({"text": "Write the addendum."})
    add = Addendum(
        note=note,
        patient_id=note.patient_id,
        author=actor,
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )
    add.save(force_insert=True)
    return add


def amendment_request_record(*, actor, note_id, requested_text: str, request=None) -> AmendmentRequest:
    """Record a patient's request to amend a signed note (ONC 170.315(d)(4))."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    text = (requested_text or "").strip()
    if not text:
        raise ValidationError({"requested_text": "Write what the patient asks to change."})
    return AmendmentRequest.objects.create(
        patient_id=note.patient_id, note=note, requested_text=text, received_by=actor
    )


def amendment_decide(
    *, actor, amendment_id, accept: bool, reason: str = "", request=None
) -> AmendmentRequest:
    """Accept (the amendment is appended to the note as an addendum, linked) or deny (with the reason, which
    stays linked to the record)."""
    try:
        am = AmendmentRequest.objects.get(pk=amendment_id)
    except (AmendmentRequest.DoesNotExist, ValidationError, ValueError):
        raise Http404("No amendment request") from None
    patient_get(
        actor=actor,
        patient_id=am.patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.CLINICAL_NOTE,
        request=request,
        record=False,
    )
    reason = (reason or "").strip()
    if am.status != AmendmentStatus.REQUESTED:
        raise ValidationError("This request has already been decided.")
    if not accept and not reason:
        raise ValidationError({"decision_reason": "A denial must give the reason."})
    with transaction.atomic():
        if accept:
            am.addendum = addendum_add(
                actor=actor,
                note_id=am.note_id,
                request=request,
                text=f"Amendment at the patient's request (accepted): {am.requested_text}",
            )
        am.status = AmendmentStatus.ACCEPTED if accept else AmendmentStatus.DENIED
        am.decision_reason, am.decided_by, am.decided_at = reason, actor, timezone.now()
        am.save()
    return am


# ------------------------------------------------------------------ vitals
def vitals_record(
    *, actor, patient_id, values: dict, encounter_id=None, taken_at: datetime | None = None, request=None
) -> VitalSigns:
    """Record a set of vital signs; BMI is computed. Impossible values are refused, all or nothing."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.VITALS,
        request=request,
        record=False,
    )
    clean = {f: values.get(f) for f in vitals.ENTERED if values.get(f) not in (None, "")}
    if not clean:
        raise ValidationError("Enter at least one measurement.")
    errors = vitals.impossible(clean)
    if errors:
        raise ValidationError(errors)
    if encounter_id and not Encounter.objects.filter(pk=encounter_id, patient=patient).exists():
        raise ValidationError("That encounter belongs to another patient.")
    vs = VitalSigns(
        patient=patient,
        encounter_id=encounter_id,
        taken_at=taken_at or timezone.now(),
        recorded_by=actor,
        **clean,
    )
    vs.bmi = vitals.bmi(vs.weight, vs.height)
    if vs.bmi is not None and vitals.impossible({"bmi": vs.bmi}):
        raise ValidationError({"weight": "Weight and height give an impossible BMI; check both."})
    vs.full_clean()
    vs.save(force_insert=True)
    return vs


# ------------------------------------------------------------------ problems
def problem_add(
    *, actor, patient_id, code: str, onset_date: date | None = None, description: str = "", request=None
) -> Problem:
    """Add a problem coded in ICD-10-CM. Unknown codes are refused."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
        record=False,
    )
    code = (code or "").strip().upper()
    if len(code) > 3 and "." not in code:
        code = f"{code[:3]}.{code[3:]}"
    icd = Icd10Code.objects.filter(pk=code).first()
    if icd is None:
        raise ValidationError(
            {"code": f"\u201c{code}\u201d is not an ICD-10-CM code. Search by description."}
        )
    problem = Problem(
        patient=patient,
        code=icd,
        description=(description or "").strip() or icd.description,
        onset_date=onset_date,
        recorded_by=actor,
    )
    problem.full_clean()
    problem.save(force_insert=True)
    return problem


def problem_status_set(
    *, actor, problem_id, status: str, resolved_date: date | None = None, request=None
) -> Problem:
    try:
        problem = Problem.objects.get(pk=problem_id)
    except (Problem.DoesNotExist, ValidationError, ValueError):
        raise Http404("No problem found") from None
    patient_get(
        actor=actor,
        patient_id=problem.patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
        record=False,
    )
    if status not in ProblemStatus.values:
        raise ValidationError({"status": "Unknown status."})
    problem.status = status
    if status == ProblemStatus.RESOLVED:
        problem.resolved_date = resolved_date or timezone.localdate()
    problem.full_clean()
    problem.save(update_fields=["status", "resolved_date"])
    return problem


def icd10_load(rows, *, batch: int = 5000) -> int:
    """Replace the ICD-10-CM table with `rows` of (code, description, billable) (management command load_icd10)."""
    n = 0
    buf: list[Icd10Code] = []
    with transaction.atomic():
        for code, description, billable in rows:
            buf.append(Icd10Code(code=code, description=description[:300], billable=bool(billable)))
            if len(buf) >= batch:
                n += _icd10_flush(buf)
                buf = []
        n += _icd10_flush(buf)
    return n


def _icd10_flush(buf) -> int:
    if buf:
        Icd10Code.objects.bulk_create(
            buf, update_conflicts=True, unique_fields=["code"], update_fields=["description", "billable"]
        )
    return len(buf)


def note_encounter_id(note_id):
    """For redirects after a refused write (the caller was already checked by the service)."""
    eid = Note.objects.filter(pk=note_id).values_list("encounter_id", flat=True).first()
    if eid is None:
        raise Http404("No note found")
    return eid
