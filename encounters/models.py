"""Scheduling (locations, working hours, appointments, series, waitlist, reminders) and the clinical record
(encounters, notes, vitals, problems, allergies, medications). Single-row rules only; logic is in services.py."""

import uuid

from django.conf import settings
from django.db import models


# ------------------------------------------------------------------ allergies and medications
class AllergyCategory(models.TextChoices):
    MEDICATION = "medication", "Medication"
    FOOD = "food", "Food"
    ENVIRONMENT = "environment", "Environment"
    BIOLOGIC = "biologic", "Biologic"


class AllergyCriticality(models.TextChoices):
    LOW = "low", "Low"
    HIGH = "high", "High"
    UNABLE = "unable-to-assess", "Unable to assess"


class AllergySeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class AllergyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    RESOLVED = "resolved", "Resolved"
    ERROR = "entered-in-error", "Entered in error"


class Allergy(models.Model):
    """An allergy or intolerance (FHIR AllergyIntolerance). The patient's banner is kept in sync by services."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="allergies")
    substance_text = models.CharField(max_length=200)
    substance_rxcui = models.CharField("RxNorm ingredient RXCUI", max_length=20, blank=True)
    category = models.CharField(max_length=12, choices=AllergyCategory.choices)
    criticality = models.CharField(max_length=16, choices=AllergyCriticality.choices,
                                   default=AllergyCriticality.LOW)
    severity = models.CharField(max_length=10, choices=AllergySeverity.choices, blank=True)
    reaction = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=AllergyStatus.choices, default=AllergyStatus.ACTIVE)
    onset_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "allergies"
        ordering = ["substance_text"]
        indexes = [models.Index(fields=["patient", "status"], name="allergy_patient_status")]
        constraints = [models.CheckConstraint(condition=~models.Q(substance_text=""), name="allergy_substance_set")]

    def __str__(self):
        return self.substance_text


class MedicationSource(models.TextChoices):
    PRESCRIBED = "prescribed", "Prescribed here"
    PATIENT_REPORTED = "patient_reported", "Reported by the patient"
    IMPORTED = "imported", "Imported"


class MedicationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"
    ERROR = "entered-in-error", "Entered in error"


class MedicationStatement(models.Model):
    """A medication the patient takes (FHIR MedicationStatement), prescribed here or reported."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="medications")
    rxcui = models.CharField("RxNorm RXCUI", max_length=20, blank=True)
    name = models.CharField(max_length=300)
    dose_text = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=20, choices=MedicationSource.choices,
                              default=MedicationSource.PATIENT_REPORTED)
    status = models.CharField(max_length=16, choices=MedicationStatus.choices, default=MedicationStatus.ACTIVE)
    started_on = models.DateField(null=True, blank=True)
    stopped_on = models.DateField(null=True, blank=True)
    prescription_id = models.UUIDField(null=True, blank=True, help_text="Set by e-prescribing")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["patient", "status"], name="medstmt_patient_status")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="medstmt_name_set"),
            models.CheckConstraint(
                condition=models.Q(stopped_on__isnull=True) | models.Q(started_on__isnull=True)
                | models.Q(stopped_on__gte=models.F("started_on")),
                name="medstmt_stop_after_start",
            ),
        ]

    def __str__(self):
        return self.name
