"""The clinical record follows the patient flow (scheduling.signals.appointment_advanced, connected in apps.py):
checking in opens the appointment's encounter (once); checking out (done) finishes it when its parts agree (note
signed, a primary diagnosis: encounters/closing.py), else leaves it open for the clinician to close, so the front
desk's checkout is never refused for the clinician's paperwork. It runs inside the transaction that moved the
appointment, so a refusal here undoes the move too."""

from __future__ import annotations

from django.utils import timezone

from scheduling.models import AppointmentStatus

from . import closing
from .models import Encounter, EncounterStatus, EncounterType
from .services import _save_guarded


def _encounter_open(appt) -> None:
    if Encounter.objects.filter(appointment=appt).exists():
        return
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


def _encounter_finish(appt) -> None:
    for enc in Encounter.objects.select_for_update().filter(
        appointment=appt, end__isnull=True, status=EncounterStatus.IN_PROGRESS
    ):
        if not closing.finish_problems(enc):
            closing.finish_now(enc)


def appointment_advanced(sender, *, appointment, status, **kwargs) -> None:
    if status == AppointmentStatus.CHECKED_IN:
        _encounter_open(appointment)
    elif status == AppointmentStatus.DONE:
        _encounter_finish(appointment)
