"""Insurance coverages: read and written through the door, like every patient record.

Who: reading needs view_demographics on the patient (front desk, nurses, clinicians on the care team); adding or
ending a coverage needs change_demographics. Each read records an access event (category "insurance", a card photo
"insurance card"); each write leaves a django-auditlog entry (member id masked) that becomes an access event.
Card photos are checked and stored by patients/cards.py before the row is written; if the row cannot be written the
stored files are removed, so nothing is left half-saved.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories

from . import cards
from .models import Coverage, Payer
from .selectors import patient_get


def payers_offered():
    return list(Payer.objects.filter(active=True).order_by("name"))


def coverage_list(*, actor, patient_id, request=None, record: bool = True):
    """(patient, active coverages in order, ended ones). The patient carries .access."""
    patient = patient_get(
        actor=actor, patient_id=patient_id, category=categories.INSURANCE, request=request, record=record
    )
    rows = list(Coverage.objects.filter(patient=patient).select_related("payer").order_by("-active", "order"))
    return patient, [c for c in rows if c.active], [c for c in rows if not c.active]


def coverages_active(*, patient) -> list[Coverage]:
    """For a page that has already been through the door for this patient (the chart summary)."""
    return list(
        Coverage.objects.filter(patient=patient, active=True).select_related("payer").order_by("order")
    )


def coverage_add(*, actor, patient_id, data: dict, front=None, back=None, request=None) -> Coverage:
    """Add a coverage. `data`: payer (Payer), order, member_id, group_number, relationship, subscriber_name,
    subscriber_birth_date. `front` / `back`: checked card images (cards.card_check) or None."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        category=categories.INSURANCE,
        request=request,
        record=False,
    )
    stored = []
    try:
        cov = Coverage(patient=patient, created_by=actor, **data)
        for side, image in (("front", front), ("back", back)):
            if image is not None:
                name = cards.card_store(image)
                stored.append(name)
                setattr(cov, f"card_{side}", name)
                setattr(cov, f"card_{side}_type", image.content_type)
        cov.full_clean(exclude=["patient", "payer"], validate_constraints=False)
        with transaction.atomic():
            clash = Coverage.objects.select_for_update().filter(patient=patient, order=cov.order, active=True)
            if clash.exists():
                raise ValidationError(
                    {
                        "order": f"This patient already has a {cov.get_order_display().lower()} coverage: "
                        "end it first, or choose another order."
                    }
                )
            cov.save(force_insert=True)
    except (
        BaseException
    ):  # a refusal, a constraint, anything: no card file outlives a row that was not written
        for name in stored:
            cards.card_delete(name)
        raise
    return cov


def coverage_end(*, actor, patient_id, coverage_id, request=None) -> Coverage:
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        category=categories.INSURANCE,
        request=request,
        record=False,
    )
    with transaction.atomic():
        cov = (
            Coverage.objects.select_for_update().filter(patient=patient, pk=coverage_id, active=True).first()
        )
        if cov is None:
            raise ValidationError("That coverage has already ended.")
        cov.active = False
        cov.ended_at = timezone.now()
        cov.save(update_fields=["active", "ended_at"])
    return cov


def coverage_card(*, actor, patient_id, coverage_id, side: str, request=None) -> tuple[bytes, str]:
    """A card photo's bytes and content type. The door records the view (category "insurance card")."""
    patient = patient_get(
        actor=actor, patient_id=patient_id, category=categories.INSURANCE_CARD, request=request
    )
    cov = Coverage.objects.filter(patient=patient, pk=coverage_id).first()
    name = getattr(cov, f"card_{side}", "") if cov is not None and side in ("front", "back") else ""
    if not name:
        raise Http404("No card photo")
    return cards.card_read(name), getattr(cov, f"card_{side}_type")
