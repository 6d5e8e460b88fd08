"""Appointment reminders: planned when an appointment is booked, sent by the beat task (tasks.reminders_send)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from audit import categories
from audit.models import Action
from audit.services import access_record

from .models import (
    Appointment,
    Reminder,
    ReminderChannel,
    ReminderStatus,
)
from .notify import send_email_reminder, send_sms_reminder


# ------------------------------------------------------------------ reminders
def reminders_plan(appt: Appointment) -> None:
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


def reminders_skip(appt: Appointment, detail: str) -> None:
    for r in Reminder.objects.select_for_update().filter(appointment=appt, status=ReminderStatus.PENDING):
        r.status, r.detail = ReminderStatus.SKIPPED, detail
        r.save(update_fields=["status", "detail"])


def reminders_send_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Send the reminders that are due. Idempotent: a row is claimed (pending -> sent) by a conditional UPDATE
    before anything leaves, so two beat runs never send twice; each outcome records one access event (the
    claim is a conditional UPDATE, which django-auditlog does not see). Messages carry no clinical content."""
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
