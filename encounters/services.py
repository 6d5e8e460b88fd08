"""Every write of scheduling and encounter data.

Each service checks the actor's permission through patients.selectors.patient_get (write permission, record=False)
*before* it opens its transaction (so the denied event of an outsider is committed, not rolled back with the refused
work), validates with full_clean(), writes, and queues background work on commit. Models are registered with
django-auditlog (apps.py), so row writes through save() become audit events; the few conditional or bulk UPDATEs
record an access event explicitly.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.models import AllergyStatus as BannerStatus
from patients.models import Patient
from patients.selectors import patient_get

from . import cvx, recurrence, selectors, vitals
from .models import (
    FREE_STATUSES,
    Addendum,
    Allergy,
    AllergyCategory,
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
    Immunization,
    ImmunizationStatus,
    Location,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteStatus,
    NoteTemplate,
    Problem,
    ProblemStatus,
    ProviderFeed,
    Reminder,
    ReminderChannel,
    ReminderStatus,
    Room,
    Series,
    TimeOff,
    TimeOffKind,
    VitalSigns,
    WaitlistEntry,
    WaitlistStatus,
    WorkingHours,
)
from .selectors import CRITICALITY_RANK


def _door(*, actor, patient_id, perm: str, category: str, request=None) -> Patient:
    """The write check: Http404 (and a committed denied event) unless actor holds `perm` on the patient.
    Call it before `transaction.atomic()`."""
    return patient_get(
        actor=actor, patient_id=patient_id, perm=perm, category=category, request=request, record=False
    )


def _patient_id_of(model, pk, what: str):
    try:
        return model.objects.values_list("patient_id", flat=True).get(pk=pk)
    except (model.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404(f"No {what} found") from None


# ------------------------------------------------------------------ database refusals as human messages
class SlotTaken(ValidationError):
    """Another booking holds the slot (the exclusion constraint said no)."""


# Races: two people booking at the same moment get the database's answer, worded for the desk.
_RACE_MESSAGES = {
    "appt_no_provider_double_booking": "That time was just taken: the provider already has an appointment "
    "then. Choose another slot.",
    "appt_no_room_double_booking": "That room was just booked for that time. Choose another room or slot.",
}


def _constraint_messages() -> dict[str, str]:
    """Every check, unique and exclusion constraint of this app -> its human message (models.py)."""
    out = {}
    for model in apps.get_app_config("encounters").get_models():
        for c in model._meta.constraints:
            if c.violation_error_message and "%(name)s" not in str(c.violation_error_message):
                out[c.name] = str(c.violation_error_message)
    return {**out, **_RACE_MESSAGES}


def integrity_message(exc: IntegrityError) -> str | None:
    text = str(exc)
    for name, message in _constraint_messages().items():
        if f'"{name}"' in text or name in text:
            return message
    return None


def _save_guarded(obj, **kwargs) -> None:
    """Save in a savepoint; a constraint the database enforces (a race the earlier checks could not see, such as
    two people booking one slot) becomes a ValidationError with the constraint's message, never a raw error."""
    try:
        with transaction.atomic():
            obj.save(**kwargs)
    except IntegrityError as exc:
        message = integrity_message(exc)
        if message is None:
            raise
        cls = SlotTaken if "booking" in str(exc) else ValidationError
        raise cls(message) from None


def _clean(obj, **kwargs) -> None:
    """full_clean() whose errors read as sentences (constraint messages are set in models.py)."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        raise ValidationError(exc.messages) from None


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


def allergy_banner_sync(patient_id) -> None:
    """For writers that bypass allergy_record (the FHIR import, inside its transaction): bring the banner in line
    with the patient's active allergies."""
    _banner_sync(patient_id)


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
    """Record an allergy. Who: users holding change_clinical on the patient (clinicians, nurses).

    A drug allergy carries the RxNorm ingredient RXCUI chosen from the medication catalog (so prescribing checks
    match by code); a name typed without choosing is matched to a catalog ingredient of exactly that name, and
    otherwise kept as text (drug classes such as "sulfonamides" are not ingredients). Foods and environmental
    agents are free text with their category. An RXCUI that is not a catalog ingredient is refused."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
    )
    substance_text = (substance_text or "").strip()
    substance_rxcui = (substance_rxcui or "").strip()
    if category != AllergyCategory.MEDICATION:
        substance_rxcui = ""
    elif substance_rxcui:
        ingredient = selectors.allergen_get(rxcui=substance_rxcui)
        if ingredient is None:
            raise ValidationError(
                {
                    "substance_rxcui": f"\u201c{substance_rxcui}\u201d is not an ingredient in the medication catalog."
                }
            )
        substance_text = substance_text or ingredient["name"]
    elif substance_text:
        match = selectors.allergen_by_name(name=substance_text)
        substance_rxcui = match["rxcui"] if match else ""
    allergy = Allergy(
        patient=patient,
        substance_text=substance_text,
        category=category,
        criticality=criticality or "low",
        severity=severity or "",
        reaction=(reaction or "").strip(),
        substance_rxcui=substance_rxcui,
        onset_date=onset_date,
        recorded_by=actor,
    )
    _clean(allergy)
    with transaction.atomic():
        _save_guarded(allergy, force_insert=True)
        _banner_sync(patient.pk)
    return allergy


def allergy_status_set(*, actor, allergy_id, status: str, request=None) -> Allergy:
    """Mark an allergy active again, inactive, resolved or entered in error; the banner follows.
    Who: change_clinical on its patient."""
    patient_id = _patient_id_of(Allergy, allergy_id, "allergy")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
    )
    if status not in AllergyStatus.values:
        raise ValidationError({"status": "Unknown status."})
    with transaction.atomic():
        allergy = Allergy.objects.select_for_update().get(pk=allergy_id)
        allergy.status = status
        _save_guarded(allergy, update_fields=["status"])
        _banner_sync(patient_id)
    return allergy


def allergy_none_known(*, actor, patient_id, request=None) -> Patient:
    """Record "No known allergies" explicitly. Refused while an allergy is active (resolve it first)."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
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
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.MEDICATIONS,
        request=request,
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
    _clean(med)
    _save_guarded(med, force_insert=True)
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
    patient_id = _patient_id_of(MedicationStatement, medication_id, "medication")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.MEDICATIONS,
        request=request,
    )
    if status not in (MedicationStatus.STOPPED, MedicationStatus.COMPLETED, MedicationStatus.ERROR):
        raise ValidationError({"status": "Unknown status."})
    with transaction.atomic():
        med = MedicationStatement.objects.select_for_update().get(pk=medication_id)
        if med.status != MedicationStatus.ACTIVE:
            raise ValidationError("This medication is no longer active.")
        med.status = status
        med.stopped_on = stopped_on or timezone.localdate()
        _clean(med)
        _save_guarded(med, update_fields=["status", "stopped_on"])
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


# ------------------------------------------------------------------ scheduling: what may be booked
OVERRIDE_HINT = (
    "To book anyway, tick \u201cBook outside working hours or in blocked time\u201d and give the reason."
)


def _who(provider) -> str:
    return provider.get_full_name() or provider.get_username()


def _span(start: datetime, end: datetime) -> str:
    s, e = timezone.localtime(start), timezone.localtime(end)
    if s.date() == e.date():
        return f"{s:%a %d %b %H:%M}\u2013{e:%H:%M}"
    return f"{s:%a %d %b %H:%M} to {e:%a %d %b %H:%M}"


@dataclass
class Unavailable:
    start: datetime
    hard: (
        bool  # time off: never bookable; otherwise (blocked time, outside working hours) an override may book
    )
    why: str


def availability_check(*, provider, ranges: list[tuple[datetime, datetime]]) -> list[Unavailable]:
    """The ranges `provider` cannot be booked in, and why. Two queries whatever the number of ranges.

    The clinic's rules: time off (holiday, sickness, a course) is never bookable; blocked time and times outside
    the weekly working hours (effective that day, clinic wall-clock time) are refused unless the front desk
    overrides with a reason (an urgent patient squeezed in at 17:30)."""
    if not ranges:
        return []
    lo, hi = min(s for s, _ in ranges), max(e for _, e in ranges)
    first, last = timezone.localtime(lo).date(), timezone.localtime(hi).date()
    hours = list(
        WorkingHours.objects.filter(provider=provider, effective_from__lte=last).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=first)
        )
    )
    offs = sorted(
        TimeOff.objects.filter(provider=provider, start__lt=hi, end__gt=lo),
        key=lambda t: t.kind != TimeOffKind.TIME_OFF,  # time off first: it is the stronger reason
    )
    out = []
    for s, e in ranges:
        off = next((t for t in offs if t.start < e and t.end > s), None)
        if off is not None and off.kind == TimeOffKind.TIME_OFF:
            out.append(
                Unavailable(
                    s,
                    True,
                    f"{_who(provider)} is on time off {_span(off.start, off.end)}"
                    f"{' (' + off.reason + ')' if off.reason else ''}: nobody can be booked then.",
                )
            )
            continue
        if off is not None:
            out.append(
                Unavailable(
                    s,
                    False,
                    f"{_who(provider)}'s calendar is blocked {_span(off.start, off.end)}"
                    f"{' (' + off.reason + ')' if off.reason else ''}.",
                )
            )
            continue
        ls, le = timezone.localtime(s), timezone.localtime(e)
        day = ls.date()
        rows = [
            h
            for h in hours
            if h.weekday == day.weekday()
            and h.effective_from <= day
            and (h.effective_to is None or h.effective_to >= day)
        ]
        fits = le.date() == day and any(h.start_time <= ls.time() and le.time() <= h.end_time for h in rows)
        if not fits:
            worked = (
                ", ".join(
                    f"{h.start_time:%H:%M}\u2013{h.end_time:%H:%M}"
                    for h in sorted(rows, key=lambda h: h.start_time)
                )
                or "no hours"
            )
            out.append(
                Unavailable(
                    s,
                    False,
                    f"{ls:%a %d %b %H:%M}\u2013{le:%H:%M} is outside {_who(provider)}'s working hours "
                    f"({ls:%A}: {worked}).",
                )
            )
    return out


def _availability_enforce(*, provider, ranges, override_reason: str = "") -> None:
    problems = availability_check(provider=provider, ranges=ranges)
    hard = [p for p in problems if p.hard]
    soft = [p for p in problems if not p.hard]
    if hard:
        raise ValidationError(_listed(hard) + " Choose another time.")
    if soft and not (override_reason or "").strip():
        raise ValidationError(_listed(soft) + " " + OVERRIDE_HINT)


def _listed(problems: list[Unavailable], most: int = 4) -> str:
    text = " ".join(p.why for p in problems[:most])
    if len(problems) > most:
        text += f" (and {len(problems) - most} more dates)"
    return text


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
    _clean(appt)


# ------------------------------------------------------------------ reminders
def _reminders_plan(appt: Appointment) -> None:
    """(Re)plan the reminders of an appointment: one per channel, due APPOINTMENT_REMINDER_HOURS before it
    (idempotent; each row is saved, so django-auditlog records it)."""
    lead = timedelta(hours=settings.APPOINTMENT_REMINDER_HOURS)
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


def _reminders_skip(appt: Appointment, detail: str) -> None:
    for r in Reminder.objects.select_for_update().filter(appointment=appt, status=ReminderStatus.PENDING):
        r.status, r.detail = ReminderStatus.SKIPPED, detail
        r.save(update_fields=["status", "detail"])


def reminders_send_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Send the reminders that are due. Idempotent: a row is claimed (pending -> sent) by a conditional UPDATE
    before anything leaves, so two beat runs never send twice; each outcome records one access event (the
    claim is a conditional UPDATE, which django-auditlog does not see). Messages carry no clinical content."""
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
        status, detail = ReminderStatus.SENT, ""
        if not appt.active or appt.start <= now:
            status, detail = ReminderStatus.SKIPPED, "no longer scheduled"
        else:
            try:
                ok = (send_email_reminder if r.channel == ReminderChannel.EMAIL else send_sms_reminder)(
                    patient=r.patient, appointment=appt
                )
                if not ok:
                    status, detail = ReminderStatus.SKIPPED, "no contact on file"
            except Exception as exc:  # a provider outage must not stop the other reminders
                status, detail = ReminderStatus.FAILED, str(exc)[:200]
        if status != ReminderStatus.SENT:
            Reminder.objects.filter(pk=r.pk).update(status=status, detail=detail)
        else:
            sent += 1
        access_record(
            actor=None,
            action=Action.TRANSMIT if status == ReminderStatus.SENT else Action.UPDATE,
            category=categories.SCHEDULE,
            patient_id=r.patient_id,
            channel="task",
            detail={"reminder": r.pk, "channel": r.channel, "status": status},
        )
    return sent


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
    _validate_appointment(appt)
    _availability_enforce(provider=provider, ranges=[(appt.start, appt.end)], override_reason=override_reason)
    with transaction.atomic():
        _save_guarded(appt, force_insert=True)
        _reminders_plan(appt)
    return appt


def _appointment_door(*, actor, appointment_id, request=None, perm=roles.MANAGE_SCHEDULE):
    patient_id = _patient_id_of(Appointment, appointment_id, "appointment")
    _door(actor=actor, patient_id=patient_id, perm=perm, category=categories.SCHEDULE, request=request)
    return patient_id


def _appointment_locked(appointment_id) -> Appointment:
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
    _appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = _appointment_locked(appointment_id)
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
        _validate_appointment(appt)
        _availability_enforce(
            provider=appt.provider, ranges=[(appt.start, appt.end)], override_reason=override_reason
        )
        _save_guarded(appt)
        _reminders_plan(appt)
        _slot_freed(provider_id=old[0], start=old[1], end=old[2])
    return appt


def _slot_freed(*, provider_id, start, end) -> None:
    """After commit, the waitlist_offer task offers the freed slot to the first matching waiting patient."""
    _slots_freed([(provider_id, start, end)])


def _slots_freed(slots) -> None:
    """Slots freed together (a series moved) go to one task that offers them earliest first: a waiting patient is
    offered the soonest slot that fits, not whichever a concurrent worker happened to reach first."""
    payload = freed_slots_payload(slots)
    if not payload:
        return
    from .tasks import waitlist_offer_slots

    transaction.on_commit(lambda: waitlist_offer_slots.delay(payload))


def freed_slots_payload(slots, *, now=None) -> list[list]:
    """The waitlist task's argument: the future slots among (provider_id, start, end), earliest first."""
    now = now or timezone.now()
    future = sorted(((p, s, e) for p, s, e in slots if s > now), key=lambda slot: (slot[1], slot[0]))
    return [[p, s.isoformat(), e.isoformat()] for p, s, e in future]


def _cancel_locked(appt: Appointment, reason: str) -> None:
    if appt.status != AppointmentStatus.SCHEDULED:
        raise ValidationError("Only a scheduled appointment can be cancelled.")
    appt.status, appt.cancel_reason = AppointmentStatus.CANCELLED, reason[:200]
    _save_guarded(appt, update_fields=["status", "cancel_reason", "updated_at"])
    _reminders_skip(appt, "appointment cancelled")
    _slot_freed(provider_id=appt.provider_id, start=appt.start, end=appt.end)


def appointment_cancel(*, actor, appointment_id, reason: str, request=None) -> Appointment:
    """Cancel with a reason. The freed slot is offered to the waitlist by a background task after commit."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the appointment is cancelled."})
    _appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = _appointment_locked(appointment_id)
        _cancel_locked(appt, reason)
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
    """Move an appointment along the patient flow. Checking in opens the encounter (once); done finishes it."""
    _appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = _appointment_locked(appointment_id)
        if status not in FLOW.get(appt.status, ()):
            raise ValidationError(
                f"An appointment that is \u201c{appt.get_status_display()}\u201d cannot become "
                f"\u201c{AppointmentStatus(status).label if status in AppointmentStatus.values else status}\u201d."
            )
        appt.status = status
        _save_guarded(appt, update_fields=["status", "updated_at"])
        if status == AppointmentStatus.CHECKED_IN and not Encounter.objects.filter(appointment=appt).exists():
            enc = Encounter(
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
            _save_guarded(enc, force_insert=True)
        if status == AppointmentStatus.DONE:
            for enc in Encounter.objects.select_for_update().filter(appointment=appt, end__isnull=True):
                enc.end, enc.status = max(timezone.now(), enc.start), EncounterStatus.FINISHED
                _save_guarded(enc, update_fields=["end", "status"])
        if status == AppointmentStatus.NO_SHOW:
            _reminders_skip(appt, "no-show")
    return appt


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
        _availability_enforce(provider=provider, ranges=ranges, override_reason=override_reason)
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
            _reminders_plan(appt)
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
                    _reminders_plan(appt)
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
    patient_id = _appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = _appointment_locked(appointment_id)
        if appt.series_id is None:
            raise ValidationError("That appointment is not part of a series.")
        if appt.status != AppointmentStatus.SCHEDULED:
            raise ValidationError("Only a scheduled appointment can be moved.")
        series = Series.objects.select_for_update().get(pk=appt.series_id)
        family = _family(series)
        delta = recurrence.local_naive(start) - recurrence.local_naive(appt.occurrence_start)
        pivot = appt.occurrence_start
        rows_qs = Appointment.objects.select_for_update().filter(
            series__in=family, status=AppointmentStatus.SCHEDULED, start__gte=timezone.now()
        )
        if scope == Scope.FOLLOWING:
            rows_qs = rows_qs.filter(occurrence_start__gte=pivot)
        rows = list(rows_qs.select_related("appointment_type").order_by("occurrence_start"))

        target = {}  # series id -> the series the row belongs to afterwards
        for part in family:
            if scope == Scope.FOLLOWING and part.pk == series.pk:
                continue
            if scope == Scope.FOLLOWING and part.dtstart < pivot:
                continue  # an earlier part: untouched
            part.dtstart = _shift(part.dtstart, delta)
            part.materialised_until = _shift(part.materialised_until, delta)
            part.save(update_fields=["dtstart", "materialised_until"])
            target[part.pk] = part
        if scope == Scope.FOLLOWING:
            if Appointment.objects.filter(series=series, occurrence_start__lt=pivot).exists():
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
                target[series.pk] = new
            else:
                series.dtstart = _shift(series.dtstart, delta)
                series.materialised_until = _shift(series.materialised_until, delta)
                series.save(update_fields=["dtstart", "materialised_until"])
                target[series.pk] = series

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
        ids = [r.pk for r in moved]
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
            _availability_enforce(
                provider=mine[0].provider,
                ranges=[(r.start, r.end) for r in mine],
                override_reason=override_reason or series.override_reason,
            )
        # Park the rows out of the way first (a conditional bulk UPDATE, so recorded explicitly), then save them
        # in the direction of the move, so that they never trip the constraints by passing each other.
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
            _reminders_plan(row)
        _slots_freed(freed)
    return sorted(moved, key=lambda r: r.start)


def series_cancel(*, actor, appointment_id, reason: str, scope: str = Scope.THIS, request=None) -> int:
    """Cancel one occurrence, this and the following, or all future ones (across every part of the series).
    Rows stay (status cancelled); the series stops producing new occurrences from that point."""
    if scope == Scope.THIS:
        appointment_cancel(actor=actor, appointment_id=appointment_id, reason=reason, request=request)
        return 1
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the appointments are cancelled."})
    _appointment_door(actor=actor, appointment_id=appointment_id, request=request)
    with transaction.atomic():
        appt = _appointment_locked(appointment_id)
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
            _cancel_locked(row, reason)
    return len(rows)


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
            _slot_freed(provider_id=entry.provider_id, start=offered[0], end=offered[1])
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
        _slot_freed(provider_id=entry.provider_id, start=start, end=end)
    return entry


# ------------------------------------------------------------------ providers' time off (reference data)
def _calendar_manager(actor) -> None:
    if not actor.has_perm("encounters.manage_calendar"):
        raise PermissionDenied("Managing calendars needs the front desk or practice admin role.")


def time_off_add(
    *, actor, provider, kind: str, start: datetime, end: datetime, reason: str = ""
) -> tuple[TimeOff, int]:
    """Record a provider's time off or blocked time. Who: users with encounters.manage_calendar (front desk,
    practice admin). Returns the row and how many booked appointments fall in it (the desk moves them)."""
    _calendar_manager(actor)
    off = TimeOff(provider=provider, kind=kind, start=start, end=end, reason=(reason or "").strip())
    _clean(off)
    _save_guarded(off, force_insert=True)
    clashing = (
        Appointment.objects.filter(provider=provider, start__lt=end, end__gt=start)
        .exclude(status__in=FREE_STATUSES)
        .count()
    )
    return off, clashing


def time_off_delete(*, actor, time_off_id) -> None:
    _calendar_manager(actor)
    deleted, _ = TimeOff.objects.filter(pk=time_off_id).delete()
    if not deleted:
        raise Http404("No time off found")


# ------------------------------------------------------------------ calendar subscription feeds
def _feed_manager(actor, provider) -> None:
    if actor.pk != provider.pk and not actor.has_perm("encounters.manage_calendar"):
        raise PermissionDenied("Only the provider or a calendar manager handles this feed.")


def provider_feed_issue(*, actor, provider) -> str:
    """A new secret subscription token for the provider's calendar (replacing any earlier one, whose URL stops
    working at once). The token is returned once; only its SHA-256 is stored."""
    _feed_manager(actor, provider)
    token = secrets.token_urlsafe(32)
    ProviderFeed.objects.update_or_create(
        provider=provider,
        defaults={
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "created_by": actor,
            "last_used_at": None,
        },
    )
    return token


def provider_feed_revoke(*, actor, provider) -> bool:
    _feed_manager(actor, provider)
    deleted, _ = ProviderFeed.objects.filter(provider=provider).delete()
    return bool(deleted)


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
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ENCOUNTER,
        request=request,
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
    _clean(enc)
    _save_guarded(enc, force_insert=True)
    return enc


def encounter_for_write(*, actor, encounter_id, request=None, category=categories.ENCOUNTER) -> Encounter:
    try:
        enc = Encounter.objects.get(pk=encounter_id)
    except (Encounter.DoesNotExist, ValidationError, ValueError):
        raise Http404("No encounter found") from None
    enc.patient = _door(
        actor=actor, patient_id=enc.patient_id, perm=roles.CHANGE_CLINICAL, category=category, request=request
    )
    return enc


NOTE_SECTIONS = ("subjective", "objective", "assessment", "plan")


def note_create(*, actor, encounter_id, template_id=None, blank: bool = False, request=None) -> Note:
    """Start a draft SOAP note, pre-filled from the template the clinician chose (`template_id`), or from the
    first active template of the encounter's type unless `blank`."""
    enc = encounter_for_write(
        actor=actor, encounter_id=encounter_id, request=request, category=categories.CLINICAL_NOTE
    )
    template = None
    if template_id:
        template = selectors.note_template_get(template_id=template_id)
        if template is None:
            raise ValidationError({"template": "That note template does not exist or is no longer active."})
    elif not blank:
        template = NoteTemplate.objects.filter(encounter_type=enc.encounter_type, active=True).first()
    note = Note(encounter=enc, patient_id=enc.patient_id, author=actor)
    if template:
        for f in NOTE_SECTIONS:
            setattr(note, f, getattr(template, f))
    _save_guarded(note, force_insert=True)
    return note


class NoteConflict(ValidationError):
    """Someone else saved (or signed) the note since this editor loaded it. `current` is the note as stored, so
    the page can show both versions; the editor's own text is never discarded."""

    def __init__(self, message, *, current: Note | None = None):
        super().__init__(message)
        self.current = current


def _note_for_write(*, actor, note_id, request=None) -> Note:
    try:
        note = Note.objects.get(pk=note_id)
    except (Note.DoesNotExist, ValidationError, ValueError):
        raise Http404("No note found") from None
    note.patient = _door(
        actor=actor,
        patient_id=note.patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.CLINICAL_NOTE,
        request=request,
    )
    return note


def note_save_draft(*, actor, note_id, version: int, data: dict, request=None) -> Note:
    """Save a draft (autosave and the Save button). Optimistic locking: the row is locked and saved only if it is
    still at `version` and a draft, so a concurrent save or a signature makes this one fail with a NoteConflict
    carrying the stored note, instead of silently overwriting it. Saving text identical to what is stored is not a
    conflict (an autosave that landed just before the Save button). The save goes through save(), so
    django-auditlog records every draft version."""
    _note_for_write(actor=actor, note_id=note_id, request=request)
    with transaction.atomic():
        note = Note.objects.select_for_update().get(pk=note_id)
        values = {f: str(data.get(f, getattr(note, f)) or "")[:20000] for f in NOTE_SECTIONS}
        same = all(getattr(note, f) == v for f, v in values.items())
        if note.signed:
            raise NoteConflict(
                "This note has been signed; it can no longer be edited. Add an addendum instead.",
                current=note,
            )
        if note.version != version:
            if same:
                return note
            raise NoteConflict(
                f"Someone else saved this note since you opened it (now version {note.version}). Your text has not "
                "been saved and is still in the form; compare it with the saved version, then keep yours or "
                "reload theirs.",
                current=note,
            )
        if same:
            return note
        for f, v in values.items():
            setattr(note, f, v)
        note.version += 1
        note.save(update_fields=[*NOTE_SECTIONS, "version", "updated_at"])
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
            raise NoteConflict("This note is already signed.", current=note)
        if note.version != version:
            raise NoteConflict(
                "The note changed since you opened it; review the latest version before signing.",
                current=note,
            )
        if actor.pk not in (note.author_id, note.encounter.provider_id):
            raise PermissionDenied("Only the author or the encounter's provider signs this note.")
        if not any(getattr(note, f).strip() for f in NOTE_SECTIONS):
            raise ValidationError("An empty note cannot be signed.")
        note.status, note.signed_by, note.signed_at = NoteStatus.SIGNED, actor, timezone.now()
        note.content_hash = note_hash(note)
        note.version += 1
        _clean(note)
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
    _save_guarded(add, force_insert=True)
    return add


def amendment_request_record(*, actor, note_id, requested_text: str, request=None) -> AmendmentRequest:
    """Record a patient's request to amend a signed note (ONC 170.315(d)(4)). A draft is not yet part of the
    record: it is edited, not amended."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    if not note.signed:
        raise ValidationError("Only a signed note can be amended; this one is still a draft.")
    text = (requested_text or "").strip()
    if not text:
        raise ValidationError({"requested_text": "Write what the patient asks to change."})
    am = AmendmentRequest(patient_id=note.patient_id, note=note, requested_text=text, received_by=actor)
    _save_guarded(am, force_insert=True)
    return am


def amendment_decide(
    *, actor, amendment_id, accept: bool, reason: str = "", request=None
) -> AmendmentRequest:
    """Accept (the amendment is appended to the note as an addendum, linked) or deny (with the reason, which
    stays linked to the record). The request row is locked, so two people deciding at once cannot both win."""
    patient_id = _patient_id_of(AmendmentRequest, amendment_id, "amendment request")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.CLINICAL_NOTE,
        request=request,
    )
    reason = (reason or "").strip()
    if not accept and not reason:
        raise ValidationError({"decision_reason": "A denial must give the reason."})
    with transaction.atomic():
        am = AmendmentRequest.objects.select_for_update().get(pk=amendment_id)
        if am.status != AmendmentStatus.REQUESTED:
            raise ValidationError("This request has already been decided.")
        if accept:
            am.addendum = addendum_add(
                actor=actor,
                note_id=am.note_id,
                request=request,
                text=f"Amendment at the patient's request (accepted): {am.requested_text}",
            )
        am.status = AmendmentStatus.ACCEPTED if accept else AmendmentStatus.DENIED
        am.decision_reason, am.decided_by, am.decided_at = reason, actor, timezone.now()
        am.save(update_fields=["addendum", "status", "decision_reason", "decided_by", "decided_at"])
    return am


def note_encounter_id(note_id):
    """For redirects after a refused write (the caller was already checked by the service)."""
    eid = Note.objects.filter(pk=note_id).values_list("encounter_id", flat=True).first()
    if eid is None:
        raise Http404("No note found")
    return eid


# ------------------------------------------------------------------ vitals
def vitals_record(
    *, actor, patient_id, values: dict, encounter_id=None, taken_at: datetime | None = None, request=None
) -> VitalSigns:
    """Record a set of vital signs; BMI is computed. Impossible values are refused, all or nothing."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.VITALS,
        request=request,
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
    _clean(vs)
    _save_guarded(vs, force_insert=True)
    return vs


# ------------------------------------------------------------------ problems
def problem_add(
    *, actor, patient_id, code: str, onset_date: date | None = None, description: str = "", request=None
) -> Problem:
    """Add a problem coded in ICD-10-CM. Unknown codes are refused."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
    )
    code = (code or "").strip().upper()
    if len(code) > 3 and "." not in code:
        code = f"{code[:3]}.{code[3:]}"
    icd = Icd10Code.objects.filter(pk=code).first()
    if icd is None:
        raise ValidationError(
            {"code": f"\u201c{code}\u201d is not an ICD-10-CM code. Search by description."}
        )
    if onset_date and onset_date > timezone.localdate():
        raise ValidationError({"onset_date": "The onset cannot be in the future."})
    problem = Problem(
        patient=patient,
        code=icd,
        description=(description or "").strip() or icd.description,
        onset_date=onset_date,
        recorded_by=actor,
    )
    _clean(problem)
    _save_guarded(problem, force_insert=True)
    return problem


def problem_status_set(
    *, actor, problem_id, status: str, resolved_date: date | None = None, request=None
) -> Problem:
    """Resolve (on a date, today by default), inactivate, reactivate or mark a problem entered in error.
    Who: change_clinical on its patient."""
    patient_id = _patient_id_of(Problem, problem_id, "problem")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.PROBLEMS,
        request=request,
    )
    if status not in ProblemStatus.values:
        raise ValidationError({"status": "Unknown status."})
    if resolved_date and resolved_date > timezone.localdate():
        raise ValidationError({"resolved_date": "The resolution date cannot be in the future."})
    with transaction.atomic():
        problem = Problem.objects.select_for_update().get(pk=problem_id)
        problem.status = status
        if status == ProblemStatus.RESOLVED:
            problem.resolved_date = resolved_date or timezone.localdate()
        elif status == ProblemStatus.ACTIVE:
            problem.resolved_date = None
        _clean(problem)
        _save_guarded(problem, update_fields=["status", "resolved_date"])
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


# ------------------------------------------------------------------ immunizations
def immunization_record(
    *,
    actor,
    patient_id,
    vaccine_code: str,
    occurrence: date | datetime,
    lot_number: str = "",
    site: str = "",
    route: str = "",
    status: str = ImmunizationStatus.COMPLETED,
    encounter_id=None,
    request=None,
) -> Immunization:
    """Record a vaccine given here or reported (CVX code from the clinic's list, date, lot). Who: change_clinical
    on the patient. Unknown codes and future dates are refused."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.IMMUNIZATIONS,
        request=request,
    )
    code = cvx.cvx_normalise(vaccine_code)
    if code not in cvx.CVX:
        raise ValidationError(
            {"vaccine_code": f"\u201c{vaccine_code}\u201d is not a CVX code in the clinic's list."}
        )
    if isinstance(occurrence, datetime):
        when = occurrence if timezone.is_aware(occurrence) else recurrence.aware(occurrence)
    elif isinstance(occurrence, date):
        when = recurrence.aware(datetime.combine(occurrence, time(12)))
    else:
        raise ValidationError({"occurrence": "Enter the date the vaccine was given."})
    if timezone.localtime(when).date() > timezone.localdate():
        raise ValidationError({"occurrence": "The vaccination date cannot be in the future."})
    if timezone.localtime(when).date() < patient.birth_date:
        raise ValidationError({"occurrence": "The vaccination date is before the patient's birth."})
    if encounter_id and not Encounter.objects.filter(pk=encounter_id, patient=patient).exists():
        raise ValidationError("That encounter belongs to another patient.")
    imm = Immunization(
        patient=patient,
        encounter_id=encounter_id,
        vaccine_code=code,
        vaccine_display=cvx.CVX[code],
        occurrence=when,
        status=status,
        lot_number=(lot_number or "").strip(),
        site=(site or "").strip(),
        route=(route or "").strip(),
        performer=actor,
    )
    _clean(imm)
    _save_guarded(imm, force_insert=True)
    return imm


def provider_feed_used(*, feed_id) -> None:
    """When a calendar app last fetched the feed (shown next to the revoke button)."""
    ProviderFeed.objects.filter(pk=feed_id).update(last_used_at=timezone.now())
