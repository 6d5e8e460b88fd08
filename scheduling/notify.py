"""Reminder delivery: email through Django's mail backend; SMS through a pluggable backend
(settings.ENCOUNTERS_SMS_BACKEND, environment variable of the same name: a dotted path to a class with
send(to: str, body: str) -> None, e.g. an adapter for the clinic's SMS provider)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class LogSmsBackend:
    """Default: writes the message to the log (no SMS provider configured)."""

    def send(self, to: str, body: str) -> None:
        log.info("SMS to %s: %s", to[-4:], body)


def sms_backend():
    return import_string(settings.ENCOUNTERS_SMS_BACKEND)()


def _body(appointment) -> str:
    # Minimum necessary: date, time and place; no reason, no provider specialty.
    when = timezone.localtime(appointment.start)
    return f"Reminder: you have an appointment on {when:%A %d %B at %H:%M}. Reply or call us to change it."


def send_email_reminder(*, patient, appointment) -> bool:
    if not patient.email:
        return False
    send_mail("Appointment reminder", _body(appointment), None, [patient.email])
    return True


def send_sms_reminder(*, patient, appointment) -> bool:
    mobile = next((p.get("value") for p in (patient.phones or []) if p.get("use") == "mobile"), None)
    if not mobile:
        return False
    sms_backend().send(mobile, _body(appointment))
    return True
