"""Scheduling's writes are audited: a series move's bulk update, reminders sent or failed; the reminder lead time and
SMS backend come from the environment."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings

from audit.models import AccessEvent, Action
from scheduling import reminders as sched_reminders
from scheduling import series as sched_series
from scheduling import services as sched_services
from scheduling.models import Reminder, ReminderStatus
from tests.scheduling.sms import RecordingSmsBackend


def _writes(patient, model):
    return AccessEvent.objects.filter(patient_id=patient.pk, channel="write", detail__model=model)


@pytest.mark.django_db
def test_series_move_records_its_bulk_update(hours, front_desk, clinician, patient, appt_type, tomorrow_9):
    series = sched_series.series_create(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        dtstart=tomorrow_9,
        rrule="FREQ=WEEKLY;COUNT=3",
    )
    first = series.appointments.order_by("start").first()
    sched_series.series_occurrence_move(
        actor=front_desk, appointment_id=first.pk, start=tomorrow_9 + timedelta(hours=1), scope="all"
    )
    ev = AccessEvent.objects.get(detail__has_key="series_move")
    assert ev.actor == front_desk and ev.patient_id == patient.pk and len(ev.detail["series_move"]) == 3
    assert _writes(patient, "scheduling.Series").filter(action=Action.UPDATE).exists()


@pytest.mark.django_db
def test_reminder_lead_time_and_sms_backend(
    hours, front_desk, clinician, patient, appt_type, tomorrow_9, settings, mailoutbox
):
    settings.APPOINTMENT_REMINDER_HOURS = 3
    settings.ENCOUNTERS_SMS_BACKEND = "tests.scheduling.sms.RecordingSmsBackend"
    RecordingSmsBackend.sent.clear()
    patient.email = "maria@example.org"
    patient.phones = [{"use": "mobile", "value": "555-123-9876"}]
    patient.save()
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    due = set(Reminder.objects.filter(appointment=a).values_list("due_at", flat=True))
    assert due == {tomorrow_9 - timedelta(hours=3)}
    assert sched_reminders.reminders_send_due(now=tomorrow_9 - timedelta(hours=4)) == 0  # not due yet
    assert sched_reminders.reminders_send_due(now=tomorrow_9 - timedelta(hours=2)) == 2
    assert len(mailoutbox) == 1
    assert len(RecordingSmsBackend.sent) == 1
    to, body = RecordingSmsBackend.sent[0]
    assert to == "555-123-9876" and "Reminder: you have an appointment" in body
    assert patient.family_name not in body  # minimum necessary
    events = AccessEvent.objects.filter(patient_id=patient.pk, channel="task", action=Action.TRANSMIT)
    assert sorted(e.detail["channel"] for e in events) == ["email", "sms"]
    assert sched_reminders.reminders_send_due(now=tomorrow_9 - timedelta(hours=1)) == 0  # idempotent


@pytest.mark.django_db
def test_failed_sms_is_recorded_not_lost(
    hours, front_desk, clinician, patient, appt_type, tomorrow_9, settings
):
    settings.ENCOUNTERS_SMS_BACKEND = "tests.scheduling.test_audit_writes.BrokenSms"
    patient.phones = [{"use": "mobile", "value": "555-123-9876"}]
    patient.save()
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    sched_reminders.reminders_send_due(now=tomorrow_9 - timedelta(hours=2))
    sms = Reminder.objects.get(appointment=a, channel="sms")
    assert sms.status == ReminderStatus.FAILED and "gateway down" in sms.detail
    assert AccessEvent.objects.filter(patient_id=patient.pk, channel="task", detail__status="failed").exists()


class BrokenSms:
    def send(self, to, body):
        raise ConnectionError("gateway down")


def test_reminder_settings_come_from_the_environment():
    code = (
        "import django, os; django.setup(); from django.conf import settings as s; "
        "print(s.APPOINTMENT_REMINDER_HOURS, s.ENCOUNTERS_SMS_BACKEND, s.SERIES_HORIZON_DAYS)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ehr.settings",
        "SECRET_KEY": django_settings.SECRET_KEY or "x",
        "APPOINTMENT_REMINDER_HOURS": "48",
        "ENCOUNTERS_SMS_BACKEND": "tests.scheduling.sms.RecordingSmsBackend",
        "SERIES_HORIZON_DAYS": "200",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["48", "tests.scheduling.sms.RecordingSmsBackend", "200"]
