"""The clinical record: encounters, notes, vitals, problems, allergies, medications, immunizations, results.
Single-row rules only; logic is in the services modules. Scheduling (appointments, calendars) is the `scheduling`
app: an encounter may start from one of its appointments."""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from audit import categories
from core.links import pk_url
from scheduling.models import Appointment, Location


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
    # Another coding of the substance when it is not a drug (imported: e.g. SNOMED CT for a food).
    substance_system = models.CharField(max_length=100, blank=True)
    substance_code = models.CharField(max_length=40, blank=True)
    category = models.CharField(max_length=12, choices=AllergyCategory.choices)
    criticality = models.CharField(
        max_length=16, choices=AllergyCriticality.choices, default=AllergyCriticality.LOW, blank=True
    )
    severity = models.CharField(max_length=10, choices=AllergySeverity.choices, blank=True)
    reaction = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=AllergyStatus.choices, default=AllergyStatus.ACTIVE)
    onset_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    # FHIR import: values as the sending system wrote them ({column: JSON value}); served instead of the column
    # while they still round to what the column holds (fhirapi/given.py). Nothing here edits them.
    as_sent = models.JSONField(null=True, blank=True, editable=False)

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        verbose_name_plural = "allergies"
        ordering = ["substance_text"]
        indexes = [models.Index(fields=["patient", "status"], name="allergy_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(substance_text=""),
                name="allergy_substance_set",
                violation_error_message="Name the substance the patient reacts to.",
            ),
        ]

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
    source = models.CharField(
        max_length=20, choices=MedicationSource.choices, default=MedicationSource.PATIENT_REPORTED
    )
    status = models.CharField(
        max_length=16, choices=MedicationStatus.choices, default=MedicationStatus.ACTIVE
    )
    started_on = models.DateField(null=True, blank=True)
    stopped_on = models.DateField(null=True, blank=True)
    prescription_id = models.UUIDField(null=True, blank=True, help_text="Set by e-prescribing")
    # An order written elsewhere (imported MedicationRequest): when, by whom, in which encounter, why.
    authored_at = models.DateTimeField(null=True, blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    encounter = models.ForeignKey(
        "Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="medications"
    )
    as_needed = models.BooleanField(default=False)
    reason_text = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["patient", "status"], name="medstmt_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(name=""),
                name="medstmt_name_set",
                violation_error_message="Name the medication.",
            ),
            models.CheckConstraint(
                condition=models.Q(stopped_on__isnull=True)
                | models.Q(started_on__isnull=True)
                | models.Q(stopped_on__gte=models.F("started_on")),
                name="medstmt_stop_after_start",
                violation_error_message="A medication cannot be stopped before the day it was started.",
            ),
        ]

    def __str__(self):
        return self.name


# ------------------------------------------------------------------ encounters and notes
class EncounterType(models.TextChoices):
    OFFICE = "office", "Office visit"
    TELEHEALTH = "telehealth", "Telehealth visit"
    PHONE = "phone", "Telephone"
    URGENT = "urgent", "Urgent visit"
    WELLNESS = "wellness", "Annual wellness"
    # Imported from other settings (FHIR Encounter.class): shown in the history, not opened here.
    EMERGENCY = "emergency", "Emergency"
    INPATIENT = "inpatient", "Inpatient stay"
    HOME = "home", "Home visit"


class EncounterStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    FINISHED = "finished", "Finished"
    CANCELLED = "cancelled", "Cancelled"


class Encounter(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="encounters")
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="encounter"
    )
    encounter_type = models.CharField(
        max_length=12, choices=EncounterType.choices, default=EncounterType.OFFICE
    )
    # The sending system's own coding of the visit type (imported), kept beside ours.
    type_system = models.CharField(max_length=100, blank=True)
    type_code = models.CharField(max_length=40, blank=True)
    type_display = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="encounters"
    )
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=12, choices=EncounterStatus.choices, default=EncounterStatus.IN_PROGRESS
    )
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        ordering = ["-start"]
        indexes = [
            models.Index(F("patient"), F("start").desc(), F("id").desc(), name="encounter_patient_start")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__isnull=True) | models.Q(end__gte=models.F("start")),
                name="encounter_end_after_start",
                violation_error_message="An encounter cannot end before it starts.",
            ),
        ]

    def __str__(self):
        return f"{self.get_encounter_type_display()} {self.start:%Y-%m-%d}"

    def get_absolute_url(self):
        return pk_url("encounters:encounter_detail", self.pk)


class NoteTemplate(models.Model):
    """SOAP scaffolding per visit type, offered when a note is started; edited by practice admins."""

    name = models.CharField(max_length=100)
    encounter_type = models.CharField("visit type", max_length=12, choices=EncounterType.choices)
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["encounter_type", "name"]

    def __str__(self):
        return self.name


class NoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class Note(models.Model):
    """A SOAP note. Signing locks it (hash of the signed text); afterwards only addenda."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="notes")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=NoteStatus.choices, default=NoteStatus.DRAFT)
    # Optimistic concurrency: every save is UPDATE ... WHERE version = expected.
    version = models.PositiveIntegerField(default=1)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    content_hash = models.CharField("SHA-256 of the signed text", max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["author", "status"], name="note_author_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status=NoteStatus.DRAFT)
                | models.Q(
                    signed_at__isnull=False, signed_by__isnull=False, content_hash__regex=r"^[0-9a-f]{64}$"
                ),
                name="note_signed_complete",
                violation_error_message="A signed note needs its signer, time and hash.",
            )
        ]

    def __str__(self):
        return f"note {self.pk}"

    @property
    def signed(self) -> bool:
        return self.status == NoteStatus.SIGNED


class Addendum(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="addenda")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "addenda"
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(text=""),
                name="addendum_text_set",
                violation_error_message="Write the addendum.",
            )
        ]

    def __str__(self):
        return f"addendum {self.created_at:%Y-%m-%d}"


class AmendmentStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    ACCEPTED = "accepted", "Accepted"
    DENIED = "denied", "Denied"


class AmendmentRequest(models.Model):
    """A patient's request to amend their record (ONC 170.315(d)(4), HIPAA 164.526): accepted requests become an
    addendum linked to the note; denied ones stay linked with the reason."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="amendment_requests"
    )
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="amendment_requests")
    requested_text = models.TextField()
    status = models.CharField(
        max_length=10, choices=AmendmentStatus.choices, default=AmendmentStatus.REQUESTED
    )
    decision_reason = models.TextField(blank=True)
    addendum = models.OneToOneField(
        Addendum, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["received_at"]

    def __str__(self):
        return f"amendment {self.status}"


# ------------------------------------------------------------------ vitals
class VitalSigns(models.Model):
    """One set of vital signs. Each column maps to a LOINC code and UCUM unit (encounters/vitals.py).
    Database checks reject physically impossible values, whatever the form says."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="vital_signs")
    encounter = models.ForeignKey(
        Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="vitals"
    )
    taken_at = models.DateTimeField()
    systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    resp_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    # Stored in UCUM base units (Cel, kg, cm) to 0.001, whatever unit was typed; the value as typed and its unit
    # are kept beside (an entry of 98.6 [degF] reads back as 98.6 [degF], not as a rounded round trip).
    temperature = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    weight = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    height = models.DecimalField(max_digits=7, decimal_places=3, null=True, blank=True)
    temperature_entered = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    temperature_unit = models.CharField("temperature entered in (UCUM)", max_length=10, blank=True)
    weight_entered = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    weight_unit = models.CharField("weight entered in (UCUM)", max_length=10, blank=True)
    height_entered = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    height_unit = models.CharField("height entered in (UCUM)", max_length=10, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_score = models.PositiveSmallIntegerField("Pain (0-10)", null=True, blank=True)
    bmi = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True, editable=False)
    # FHIR import: values as the sending system wrote them ({column: JSON value}); served instead of the column
    # while they still round to what the column holds (fhirapi/given.py). Nothing here edits them.
    as_sent = models.JSONField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        verbose_name_plural = "vital signs"
        ordering = ["-taken_at"]
        indexes = [models.Index(F("patient"), F("taken_at").desc(), name="vitals_patient_taken")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(systolic__isnull=True) | models.Q(systolic__range=(40, 300)),
                name="vitals_systolic_plausible",
                violation_error_message="Systolic blood pressure must be between 40 and 300 mmHg.",
            ),
            models.CheckConstraint(
                condition=models.Q(diastolic__isnull=True) | models.Q(diastolic__range=(20, 200)),
                name="vitals_diastolic_plausible",
                violation_error_message="Diastolic blood pressure must be between 20 and 200 mmHg.",
            ),
            models.CheckConstraint(
                condition=models.Q(heart_rate__isnull=True) | models.Q(heart_rate__range=(20, 300)),
                name="vitals_hr_plausible",
                violation_error_message="Heart rate must be between 20 and 300 /min.",
            ),
            models.CheckConstraint(
                condition=models.Q(spo2__isnull=True) | models.Q(spo2__range=(40, 100)),
                name="vitals_spo2_plausible",
                violation_error_message="Oxygen saturation must be between 40 and 100 %.",
            ),
            models.CheckConstraint(
                condition=models.Q(pain_score__isnull=True) | models.Q(pain_score__lte=10),
                name="vitals_pain_scale",
                violation_error_message="A pain score is between 0 and 10.",
            ),
        ]

    def __str__(self):
        return f"vitals {self.taken_at:%Y-%m-%d %H:%M}"


class ClinicUnits(models.Model):
    """The units the clinic types and reads vital signs in (one row, pk 1; the practice admin changes it). Values
    are stored in UCUM base units whatever is chosen; US units by default."""

    TEMPERATURE = [("[degF]", "\u00b0F (Fahrenheit)"), ("Cel", "\u00b0C (Celsius)")]
    WEIGHT = [("[lb_av]", "lb (pounds)"), ("kg", "kg (kilograms)")]
    HEIGHT = [("[in_i]", "in (inches)"), ("cm", "cm (centimetres)")]

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    temperature = models.CharField(max_length=10, choices=TEMPERATURE, default="[degF]")
    weight = models.CharField(max_length=10, choices=WEIGHT, default="[lb_av]")
    height = models.CharField(max_length=10, choices=HEIGHT, default="[in_i]")

    class Meta:
        verbose_name = "clinic units"
        verbose_name_plural = "clinic units"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=1),
                name="clinic_units_single_row",
                violation_error_message="The clinic has one set of units; change it instead of adding another.",
            )
        ]

    def __str__(self):
        return "Units for vital signs"

    @classmethod
    def current(cls) -> "ClinicUnits":
        """The clinic's choice (US units until the admin changes them). Read-only: no row means the defaults."""
        return cls.objects.filter(pk=1).first() or cls()

    def as_dict(self) -> dict[str, str]:
        return {"temperature": self.temperature, "weight": self.weight, "height": self.height}


# ------------------------------------------------------------------ diagnoses of a visit
class EncounterDiagnosis(models.Model):
    """A diagnosis addressed at a visit (ICD-10-CM), ranked: rank 1 is the primary diagnosis, then in order. What
    billing and reporting read for the visit."""

    audit_category = categories.ENCOUNTER

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="diagnoses")
    code = models.ForeignKey("Icd10Code", on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveSmallIntegerField()
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "encounter diagnoses"
        ordering = ["encounter", "rank"]
        constraints = [
            # Deferred: re-ranking (make primary, remove) moves several rows inside one transaction.
            models.UniqueConstraint(
                fields=["encounter", "rank"],
                name="encdx_unique_rank",
                deferrable=models.Deferrable.DEFERRED,
                violation_error_message="Two diagnoses of a visit cannot share a rank.",
            ),
            models.UniqueConstraint(
                fields=["encounter", "code"],
                name="encdx_unique_code",
                violation_error_message="This diagnosis is already linked to the visit.",
            ),
            models.CheckConstraint(
                condition=models.Q(rank__gte=1),
                name="encdx_rank_positive",
                violation_error_message="Rank 1 is the primary diagnosis.",
            ),
        ]

    def __str__(self):
        return f"{self.rank}. {self.code_id}"

    @property
    def primary(self) -> bool:
        return self.rank == 1


# ------------------------------------------------------------------ problems
class Icd10Code(models.Model):
    """ICD-10-CM code list, loaded by `manage.py load_icd10` (not a data migration: it is reference data)."""

    code = models.CharField(max_length=8, primary_key=True)
    description = models.CharField(max_length=300)
    billable = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        indexes = [
            GinIndex(name="icd10_description_trgm", fields=["description"], opclasses=["gin_trgm_ops"])
        ]

    def __str__(self):
        return f"{self.code} {self.description}"


class ProblemStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    RESOLVED = "resolved", "Resolved"
    ERROR = "entered-in-error", "Entered in error"


class Problem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="problems")
    # ICD-10-CM when known; an imported problem coded otherwise (SNOMED CT) keeps that coding instead.
    code = models.ForeignKey(
        Icd10Code, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_column="icd10_code"
    )
    code_system = models.CharField(max_length=100, blank=True)
    code_value = models.CharField(max_length=40, blank=True)
    encounter = models.ForeignKey(
        "Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="problems"
    )
    description = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=ProblemStatus.choices, default=ProblemStatus.ACTIVE)
    onset_date = models.DateField(null=True, blank=True)
    resolved_date = models.DateField(null=True, blank=True)
    # FHIR import: values as the sending system wrote them ({column: JSON value}); served instead of the column
    # while they still round to what the column holds (fhirapi/given.py). Nothing here edits them.
    as_sent = models.JSONField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        ordering = ["description"]
        indexes = [models.Index(fields=["patient", "status"], name="problem_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolved_date__isnull=True)
                | models.Q(onset_date__isnull=True)
                | models.Q(resolved_date__gte=models.F("onset_date")),
                name="problem_resolved_after_onset",
                violation_error_message="A problem cannot be resolved before its onset.",
            ),
            models.CheckConstraint(
                condition=models.Q(code__isnull=False) | ~models.Q(code_value=""),
                name="problem_coded",
                violation_error_message="A problem needs an ICD-10-CM code (or, imported, another coding).",
            ),
        ]

    def __str__(self):
        return f"{self.code_id or self.code_value} {self.description}"


# ------------------------------------------------------------------ immunizations and results
class ImmunizationStatus(models.TextChoices):
    COMPLETED = "completed", "Completed"
    NOT_DONE = "not-done", "Not done"
    ERROR = "entered-in-error", "Entered in error"


class Immunization(models.Model):
    """A vaccine given (or documented as not given): FHIR Immunization, coded in CDC CVX."""

    audit_category = categories.IMMUNIZATIONS  # category of the audit events django-auditlog writes

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="immunizations")
    encounter = models.ForeignKey(
        Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="immunizations"
    )
    vaccine_code = models.CharField("CVX code", max_length=10)
    vaccine_display = models.CharField(max_length=200, blank=True)
    occurrence = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=ImmunizationStatus.choices, default=ImmunizationStatus.COMPLETED
    )
    lot_number = models.CharField(max_length=40, blank=True)
    site = models.CharField(max_length=60, blank=True)
    route = models.CharField(max_length=60, blank=True)
    performer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        ordering = ["-occurrence"]
        indexes = [models.Index(F("patient"), F("occurrence").desc(), name="immunization_patient_time")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(vaccine_code=""),
                name="immunization_code_set",
                violation_error_message="Enter the vaccine's CVX code.",
            ),
        ]

    def __str__(self):
        return f"{self.vaccine_display or self.vaccine_code} {self.occurrence:%Y-%m-%d}"


class ObservationCategory(models.TextChoices):
    LABORATORY = "laboratory", "Laboratory"
    # Vital signs without a column in VitalSigns (head circumference, ...): kept as coded results.
    VITAL_SIGNS = "vital-signs", "Vital signs"
    SOCIAL_HISTORY = "social-history", "Social history"
    SURVEY = "survey", "Survey"
    EXAM = "exam", "Exam"
    IMAGING = "imaging", "Imaging"
    PROCEDURE = "procedure", "Procedure"
    THERAPY = "therapy", "Therapy"
    ACTIVITY = "activity", "Activity"


class ObservationStatus(models.TextChoices):
    FINAL = "final", "Final"
    AMENDED = "amended", "Amended"
    PRELIMINARY = "preliminary", "Preliminary"
    CORRECTED = "corrected", "Corrected"
    ERROR = "entered-in-error", "Entered in error"


class Interpretation(models.TextChoices):
    CRITICAL_HIGH = "HH", "Critically high"
    CRITICAL_LOW = "LL", "Critically low"
    HIGH = "H", "High"
    LOW = "L", "Low"
    NORMAL = "N", "Normal"
    ABNORMAL = "A", "Abnormal"


class Observation(models.Model):
    """A result other than vital signs (FHIR Observation): laboratory values, social history, surveys.
    Read-only in the product; rows come from the FHIR import (or the demo)."""

    audit_category = categories.RESULTS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="observations")
    encounter = models.ForeignKey(
        Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="observations"
    )
    category = models.CharField(
        max_length=20, choices=ObservationCategory.choices, default=ObservationCategory.LABORATORY
    )
    loinc_code = models.CharField("LOINC code", max_length=20)
    display = models.CharField(max_length=200)
    value_quantity = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    value_unit = models.CharField(max_length=40, blank=True)
    value_text = models.CharField(max_length=1000, blank=True)
    value_code = models.CharField(max_length=64, blank=True)
    value_system = models.CharField(max_length=100, blank=True, help_text="Code system of value_code")
    reference_low = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    reference_high = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    # FHIR import: values as the sending system wrote them ({column: JSON value}); served instead of the column
    # while they still round to what the column holds (fhirapi/given.py). Nothing here edits them.
    as_sent = models.JSONField(null=True, blank=True, editable=False)
    interpretation = models.CharField(max_length=2, choices=Interpretation.choices, blank=True)
    status = models.CharField(
        max_length=20, choices=ObservationStatus.choices, default=ObservationStatus.FINAL
    )
    effective = models.DateTimeField()
    issued = models.DateTimeField(null=True, blank=True)
    # Set by orders when a laboratory result is filed: its orders.ResultReport (a plain id: encounters sits
    # below orders), and the newer value that replaced this one (a corrected result; this row stays, struck out).
    report_id = models.UUIDField(null=True, blank=True, db_index=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )

    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())

    class Meta:
        ordering = ["-effective"]
        indexes = [
            models.Index(F("patient"), F("effective").desc(), name="observation_patient_time"),
            models.Index(
                F("patient"), F("loinc_code"), F("effective").desc(), name="observation_patient_code"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reference_low__isnull=True)
                | models.Q(reference_high__isnull=True)
                | models.Q(reference_high__gte=models.F("reference_low")),
                name="observation_range_order",
                violation_error_message="The reference range's high end must not be below its low end.",
            ),
        ]

    def __str__(self):
        return f"{self.display} {self.effective:%Y-%m-%d}"

    @property
    def flag(self) -> str:
        """The interpretation given, else computed from the reference range ('H', 'L' or '')."""
        if self.interpretation:
            return self.interpretation if self.interpretation != Interpretation.NORMAL else ""
        v = self.value_quantity
        if v is None:
            return ""
        if self.reference_high is not None and v > self.reference_high:
            return Interpretation.HIGH
        if self.reference_low is not None and v < self.reference_low:
            return Interpretation.LOW
        return ""
