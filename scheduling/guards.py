"""The write door of scheduling's services and the database's refusals worded for the front desk."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError

from core import guarded
from patients.models import Patient
from patients.selectors import patient_get


class SlotTaken(ValidationError):
    """Another booking holds the slot (the exclusion constraint said no)."""


# Races: two people booking at the same moment get the database's answer, worded for the desk.
_RACE_MESSAGES = {
    "appt_no_provider_double_booking": "That time was just taken: the provider already has an appointment "
    "then. Choose another slot.",
    "appt_no_room_double_booking": "That room was just booked for that time. Choose another room or slot.",
}


def door(*, actor, patient_id, perm: str, category: str, request=None) -> Patient:
    """The write check: Http404 (and a committed denied event) unless actor holds `perm` on the patient.
    Call it before `transaction.atomic()`."""
    return patient_get(
        actor=actor, patient_id=patient_id, perm=perm, category=category, request=request, record=False
    )


def _refusal(exc: IntegrityError) -> type[ValidationError]:
    return SlotTaken if "booking" in str(exc) else ValidationError


def save_guarded(obj, **kwargs) -> None:
    """Save in a savepoint; a race the earlier checks could not see (two people booking one slot) becomes
    SlotTaken, another constraint a ValidationError, each with the constraint's message."""
    guarded.save_guarded(
        obj,
        messages={**guarded.constraint_messages("scheduling"), **_RACE_MESSAGES},
        refusal=_refusal,
        **kwargs,
    )
