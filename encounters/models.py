"""Scheduling (locations, working hours, appointments, series, waitlist, reminders) and the clinical record
(encounters, notes, vitals, problems, allergies, medications). Single-row rules only; logic is in services.py."""

import uuid

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func
from django.urls import reverse


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()  # only used inside the exclusion constraint


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
    criticality = models.CharField(
        max_length=16, choices=AllergyCriticality.choices, default=AllergyCriticality.LOW
    )
    severity = models.CharField(max_length=10, choices=AllergySeverity.choices, blank=True)
    reaction = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=AllergyStatus.choices, default=AllergyStatus.ACTIVE)
    onset_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "allergies"
        ordering = ["substance_text"]
        indexes = [models.Index(fields=["patient", "status"], name="allergy_patient_status")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(substance_text=""), name="allergy_substance_set")
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
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["patient", "status"], name="medstmt_patient_status")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="medstmt_name_set"),
            models.CheckConstraint(
                condition=models.Q(stopped_on__isnull=True)
                | models.Q(started_on__isnull=True)
                | models.Q(stopped_on__gte=models.F("started_on")),
                name="medstmt_stop_after_start",
            ),
        ]

    def __str__(self):
        return self.name


# ------------------------------------------------------------------ scheduling
class Location(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True)
    address = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Room(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["location__name", "name"]
        constraints = [models.UniqueConstraint(fields=["location", "name"], name="room_unique_name")]

    def __str__(self):
        return f"{self.location} \u2013 {self.name}"


class Modality(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    VIDEO = "video", "Video"


class Colour(models.TextChoices):
    # CSS classes (appt-<colour>): the CSP forbids inline styles.
    BLUE = "blue", "Blue"
    GREEN = "green", "Green"
    AMBER = "amber", "Amber"
    PURPLE = "purple", "Purple"
    GREY = "grey", "Grey"


class AppointmentType(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=80, unique=True)
    duration_minutes = models.PositiveSmallIntegerField(default=20)
    colour = models.CharField(max_length=10, choices=Colour.choices, default=Colour.BLUE)
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.IN_PERSON)
    encounter_type = models.CharField(max_length=20, default="office")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(duration_minutes__gte=5, duration_minutes__lte=480),
                name="appttype_duration_range",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.duration_minutes} min)"


class WorkingHours(models.Model):
    """One weekly template row: provider works `weekday` from `start_time` to `end_time` (clinic local time)."""

    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="+")
    weekday = models.PositiveSmallIntegerField(
        choices=[
            (i, d)
            for i, d in enumerate(
                ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
            )
        ]
    )
    start_time = models.TimeField()
    end_time = models.TimeField()
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "working hours"
        ordering = ["provider", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")), name="wh_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gte=models.F("effective_from")),
                name="wh_effective_order",
            ),
        ]

    def __str__(self):
        return f"{self.provider} {self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class TimeOffKind(models.TextChoices):
    TIME_OFF = "time_off", "Time off"
    BLOCK = "block", "Blocked time"


class TimeOff(models.Model):
    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="time_off")
    kind = models.CharField(max_length=10, choices=TimeOffKind.choices, default=TimeOffKind.TIME_OFF)
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "time off and blocks"
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="timeoff_end_after_start"
            )
        ]

    def __str__(self):
        return f"{self.provider} {self.get_kind_display()} {self.start:%Y-%m-%d %H:%M}"


class Series(models.Model):
    """A recurring appointment (RFC 5545 RRULE). Occurrences are materialised as Appointment rows up to
    `materialised_until`, so each can be moved or cancelled on its own and nothing silently vanishes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="appointment_series"
    )
    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rrule = models.CharField(max_length=300, help_text="RFC 5545, e.g. FREQ=WEEKLY;COUNT=6")
    dtstart = models.DateTimeField(help_text="First occurrence; later ones keep its local wall-clock time")
    materialised_until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"

    def __str__(self):
        return f"{self.rrule} from {self.dtstart:%Y-%m-%d}"


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ARRIVED = "arrived", "Arrived"
    CHECKED_IN = "checked_in", "Checked in"
    IN_ROOM = "in_room", "In room"
    WITH_PROVIDER = "with_provider", "With provider"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# Statuses that hold the slot: the exclusion constraints ignore the others.
FREE_STATUSES = (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)


class Appointment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="appointments")
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    reason = models.CharField(max_length=200, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    series = models.ForeignKey(
        Series, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    # The occurrence's original start in its series (RECURRENCE-ID): a moved occurrence keeps it.
    occurrence_start = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        permissions = [
            ("view_provider_schedule", "Can see providers' calendars"),
            ("manage_calendar", "Can manage locations, rooms, appointment types and working hours"),
        ]
        indexes = [
            models.Index(fields=["provider", "start"], name="appt_provider_start"),
            models.Index(fields=["patient", "start"], name="appt_patient_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")),
                name="appt_end_after_start",
                violation_error_message="The end must be after the start.",
            ),
            ExclusionConstraint(
                name="appt_no_provider_double_booking",
                expressions=[
                    ("provider", RangeOperators.EQUAL),
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=~models.Q(status__in=FREE_STATUSES),
                violation_error_message="The provider already has an appointment at that time.",
            ),
            ExclusionConstraint(
                name="appt_no_room_double_booking",
                expressions=[
                    ("room", RangeOperators.EQUAL),
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=models.Q(room__isnull=False) & ~models.Q(status__in=FREE_STATUSES),
                violation_error_message="The room is already booked at that time.",
            ),
            models.UniqueConstraint(
                fields=["series", "occurrence_start"],
                name="appt_unique_occurrence",
                condition=models.Q(series__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.start:%Y-%m-%d %H:%M} {self.appointment_type.name}"

    @property
    def active(self) -> bool:
        return self.status not in FREE_STATUSES


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    OFFERED = "offered", "Slot offered"
    BOOKED = "booked", "Booked"
    REMOVED = "removed", "Removed"


class WaitlistEntry(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="waitlist_entries")
    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    earliest = models.DateField()
    latest = models.DateField()
    status = models.CharField(max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING)
    offered_start = models.DateTimeField(null=True, blank=True)
    offered_end = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "waitlist entries"
        ordering = ["created_at"]
        indexes = [models.Index(fields=["provider", "status", "created_at"], name="waitlist_match")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latest__gte=models.F("earliest")), name="waitlist_range_order"
            )
        ]

    def __str__(self):
        return f"waitlist {self.patient_id} {self.earliest}..{self.latest}"


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class Reminder(models.Model):
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=ReminderChannel.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="reminder_due")]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "channel"], name="reminder_unique_channel")
        ]

    def __str__(self):
        return f"{self.channel} reminder {self.due_at:%Y-%m-%d %H:%M}"


# ------------------------------------------------------------------ encounters and notes
class EncounterType(models.TextChoices):
    OFFICE = "office", "Office visit"
    TELEHEALTH = "telehealth", "Telehealth visit"
    PHONE = "phone", "Telephone"
    URGENT = "urgent", "Urgent visit"
    WELLNESS = "wellness", "Annual wellness"


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

    class Meta:
        ordering = ["-start"]
        indexes = [
            models.Index(F("patient"), F("start").desc(), F("id").desc(), name="encounter_patient_start")
        ]

    def __str__(self):
        return f"{self.get_encounter_type_display()} {self.start:%Y-%m-%d}"

    def get_absolute_url(self):
        return reverse("encounters:encounter_detail", args=[self.pk])


class NoteTemplate(models.Model):
    """SOAP scaffolding per encounter type, edited by practice admins in the Django admin."""

    name = models.CharField(max_length=100)
    encounter_type = models.CharField(max_length=12, choices=EncounterType.choices)
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
        constraints = [models.CheckConstraint(condition=~models.Q(text=""), name="addendum_text_set")]

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
    temperature = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    weight = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    bmi = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "vital signs"
        ordering = ["-taken_at"]
        indexes = [models.Index(F("patient"), F("taken_at").desc(), name="vitals_patient_taken")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(systolic__isnull=True) | models.Q(systolic__range=(40, 300)),
                name="vitals_systolic_plausible",
            ),
            models.CheckConstraint(
                condition=models.Q(diastolic__isnull=True) | models.Q(diastolic__range=(20, 200)),
                name="vitals_diastolic_plausible",
            ),
            models.CheckConstraint(
                condition=models.Q(heart_rate__isnull=True) | models.Q(heart_rate__range=(20, 300)),
                name="vitals_hr_plausible",
            ),
            models.CheckConstraint(
                condition=models.Q(spo2__isnull=True) | models.Q(spo2__range=(40, 100)),
                name="vitals_spo2_plausible",
            ),
        ]

    def __str__(self):
        return f"vitals {self.taken_at:%Y-%m-%d %H:%M}"


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
    code = models.ForeignKey(Icd10Code, on_delete=models.PROTECT, related_name="+", db_column="icd10_code")
    description = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=ProblemStatus.choices, default=ProblemStatus.ACTIVE)
    onset_date = models.DateField(null=True, blank=True)
    resolved_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["description"]
        indexes = [models.Index(fields=["patient", "status"], name="problem_patient_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolved_date__isnull=True)
                | models.Q(onset_date__isnull=True)
                | models.Q(resolved_date__gte=models.F("onset_date")),
                name="problem_resolved_after_onset",
            )
        ]

    def __str__(self):
        return f"{self.code_id} {self.description}"
