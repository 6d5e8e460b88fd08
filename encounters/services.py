"""Every write of scheduling and encounter data.

Each service checks the actor's permission through patients.selectors.patient_get (write permission, record=False)
before it opens its transaction, validates with full_clean(), writes, and queues background work on commit.
Models are registered with django-auditlog (apps.py), so row writes become audit events.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from patients.models import AllergyStatus as BannerStatus
from patients.models import Patient
from patients.selectors import patient_get

from .models import Allergy, AllergyStatus, MedicationSource, MedicationStatement, MedicationStatus
from .selectors import CRITICALITY_RANK


# ------------------------------------------------------------------ allergies
def _banner_sync(patient_id, *, nka: bool = False) -> None:
    """Keep Patient.allergy_status / allergy_summary (the banner) true to the active allergies.

    "has" when any allergy is active; "nka" only when a user said so explicitly (and nothing active since);
    otherwise "unknown" — resolving the last allergy does not mean "no known allergies".
    """
    patient = Patient.objects.select_for_update().get(pk=patient_id)
    names = list(Allergy.objects.filter(patient_id=patient_id, status=AllergyStatus.ACTIVE)
                 .order_by(CRITICALITY_RANK, "substance_text").values_list("substance_text", flat=True))
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


def allergy_record(*, actor, patient_id, substance_text: str, category: str, criticality: str = "low",
                   severity: str = "", reaction: str = "", substance_rxcui: str = "", onset_date: date | None = None,
                   request=None) -> Allergy:
    """Record an allergy. Who: users holding change_clinical on the patient (clinicians, nurses)."""
    patient = patient_get(actor=actor, patient_id=patient_id, perm=roles.CHANGE_CLINICAL,
                          category=categories.ALLERGIES, request=request, record=False)
    allergy = Allergy(patient=patient, substance_text=(substance_text or "").strip(), category=category,
                      criticality=criticality or "low", severity=severity or "", reaction=(reaction or "").strip(),
                      substance_rxcui=(substance_rxcui or "").strip(), onset_date=onset_date, recorded_by=actor)
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
    patient_get(actor=actor, patient_id=patient_id, perm=roles.CHANGE_CLINICAL, category=categories.ALLERGIES,
                request=request, record=False)
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
    patient = patient_get(actor=actor, patient_id=patient_id, perm=roles.CHANGE_CLINICAL,
                          category=categories.ALLERGIES, request=request, record=False)
    if Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE).exists():
        raise ValidationError("The patient has active allergies; resolve or correct them before recording "
                              "\u201cno known allergies\u201d.")
    with transaction.atomic():
        _banner_sync(patient.pk, nka=True)
    patient.refresh_from_db(fields=["allergy_status", "allergy_summary"])
    return patient


# ------------------------------------------------------------------ medications
def medication_record(*, actor, patient_id, name: str, dose_text: str = "", rxcui: str = "",
                      source: str = MedicationSource.PATIENT_REPORTED, started_on: date | None = None,
                      request=None) -> MedicationStatement:
    """Add a medication to the list (usually one the patient reports). Who: change_clinical on the patient."""
    patient = patient_get(actor=actor, patient_id=patient_id, perm=roles.CHANGE_CLINICAL,
                          category=categories.MEDICATIONS, request=request, record=False)
    med = MedicationStatement(patient=patient, name=(name or "").strip(), dose_text=(dose_text or "").strip(),
                              rxcui=(rxcui or "").strip(), source=source, started_on=started_on, recorded_by=actor)
    med.full_clean()
    med.save(force_insert=True)
    return med


def medication_stop(*, actor, medication_id, status: str = MedicationStatus.STOPPED, stopped_on: date | None = None,
                    request=None) -> MedicationStatement:
    """Stop (or mark completed / entered in error) a medication. Who: change_clinical on its patient."""
    try:
        patient_id = MedicationStatement.objects.values_list("patient_id", flat=True).get(pk=medication_id)
    except (MedicationStatement.DoesNotExist, ValidationError, ValueError):
        raise Http404("No medication found") from None
    patient_get(actor=actor, patient_id=patient_id, perm=roles.CHANGE_CLINICAL, category=categories.MEDICATIONS,
                request=request, record=False)
    if status not in (MedicationStatus.STOPPED, MedicationStatus.COMPLETED, MedicationStatus.ERROR):
        raise ValidationError({"status": "Unknown status."})
    with transaction.atomic():
        med = MedicationStatement.objects.select_for_update().get(pk=medication_id)
        med.status = status
        med.stopped_on = stopped_on or timezone.localdate()
        med.full_clean()
        med.save(update_fields=["status", "stopped_on"])
    return med


def medication_record_prescribed(*, patient, rxcui: str, name: str, dose_text: str, prescription_id,
                                 actor) -> MedicationStatement:
    """Called by e-prescribing when a prescription is signed (inside its transaction); the caller has already
    checked the prescribe permission. Idempotent per prescription: signing twice does not list the drug twice."""
    existing = MedicationStatement.objects.filter(patient=patient, prescription_id=prescription_id).first()
    if existing is not None:
        return existing
    med = MedicationStatement(patient=patient, rxcui=rxcui or "", name=name, dose_text=dose_text or "",
                              source=MedicationSource.PRESCRIBED, status=MedicationStatus.ACTIVE,
                              started_on=timezone.localdate(), prescription_id=prescription_id,
                              recorded_by=actor if getattr(actor, "is_authenticated", False) else None)
    med.full_clean()
    med.save(force_insert=True)
    return med
