"""Every write of the allergy and medication lists (and the helpers the other clinical services share).

Each service checks the actor's permission through patients.selectors.patient_get (write permission, record=False)
*before* it opens its transaction (so the denied event of an outsider is committed, not rolled back with the refused
work), validates with full_clean(), writes, and queues background work on commit. Models are registered with
django-auditlog (apps.py), so row writes through save() become audit events; the few conditional or bulk UPDATEs
record an access event explicitly.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from core import guarded
from core.guarded import clean as _clean
from core.guarded import patient_id_of as _patient_id_of
from patients.models import AllergyStatus as BannerStatus
from patients.models import Patient
from patients.selectors import patient_get

from . import selectors
from .models import (
    Allergy,
    AllergyCategory,
    AllergyStatus,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
)
from .selectors import CRITICALITY_RANK


def _save_guarded(obj, **kwargs) -> None:
    """Save in a savepoint; a constraint the database enforces becomes a ValidationError with its message."""
    guarded.save_guarded(obj, messages=guarded.constraint_messages("encounters"), **kwargs)


def _door(*, actor, patient_id, perm: str, category: str, request=None) -> Patient:
    """The write check: Http404 (and a committed denied event) unless actor holds `perm` on the patient.
    Call it before `transaction.atomic()`."""
    return patient_get(
        actor=actor, patient_id=patient_id, perm=perm, category=category, request=request, record=False
    )


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
