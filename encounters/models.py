"""Scheduling (locations, working hours, appointments, series, waitlist, reminders) and the clinical record
(encounters, notes, vitals, problems, allergies, medications). Single-row rules only; logic is in services.py."""

import uuid

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.contrib.postgres.indexes import GinIndex, GistIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func
from django.utils import timezone

from audit import categories
from core.links import pk_url


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()  # only used inside the exclusion constraint


class DateRangeFn(Func):
    function = "DATERANGE"
    output_field = models.DateField()  # only used inside the exclusion constraint


class TimeOfDayRange(Func):
    """TSRANGE(day + start_time, day + end_time) on a fixed day: PostgreSQL has no range type over times of day,
    and `date + time` is an immutable timestamp, so the range can sit in an exclusion constraint."""

    template = "TSRANGE(DATE '2000-01-01' + %(expressions)s)"
    arg_joiner = ", DATE '2000-01-01' + "
    output_field = models.DateTimeField()


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
        constraints = [
            models.UniqueConstraint(
                fields=["location", "name"],
                name="room_unique_name",
                violation_error_message="This location already has a room of that name.",
            )
        ]

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
                violation_error_message="An appointment lasts between 5 minutes and 8 hours.",
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
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="wh_end_after_start",
                violation_error_message="The end of the working hours must be after their start.",
            ),
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gte=models.F("effective_from")),
                name="wh_effective_order",
                violation_error_message="“Effective to” must not be before “effective from”.",
            ),
            # Two rows covering the same provider, weekday, dates and times would offer every slot twice.
            ExclusionConstraint(
                name="wh_no_overlap",
                expressions=[
                    ("provider", RangeOperators.EQUAL),
                    ("weekday", RangeOperators.EQUAL),
                    (
                        DateRangeFn("effective_from", "effective_to", RangeBoundary(inclusive_upper=True)),
                        RangeOperators.OVERLAPS,
                    ),
                    (TimeOfDayRange("start_time", "end_time"), RangeOperators.OVERLAPS),
                ],
                violation_error_message="These working hours overlap hours already set for this provider on "
                "that weekday and dates. Change or end the existing row instead.",
            ),
        ]

    def __str__(self):
        return f"{self.provider} {self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def clean(self):
        # Said here as well as by the check constraints: with the times or dates reversed, the overlap check
        # (a range built from them) could not even be evaluated. An error on the field skips that check.
        errors = {}
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            errors["end_time"] = "The end of the working hours must be after their start."
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            errors["effective_to"] = "\u201cEffective to\u201d must not be before \u201ceffective from\u201d."
        if errors:
            raise ValidationError(errors)


class TimeOffKind(models.TextChoices):
    TIME_OFF = "time_off", "Time off"
    BLOCK = "block", "Blocked time"


class TimeOff(models.Model):
    """A provider's absence. Booking policy (services._availability): time off (holiday, sick leave, a course)
    can never be booked over; blocked time (meetings, admin time, held slots) and times outside the working
    hours are refused unless the front desk overrides explicitly with a reason, recorded on the appointment."""

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
                condition=models.Q(end__gt=models.F("start")),
                name="timeoff_end_after_start",
                violation_error_message="The end of the time off must be after its start.",
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
    # Occurrences exist as rows up to here; the beat task series_extend moves it forward (rolling horizon).
    materialised_until = models.DateTimeField(null=True, blank=True)
    # True once every occurrence the rule will ever give exists as a row (or the series was ended).
    fully_materialised = models.BooleanField(default=False)
    # A "this and following" edit splits a series; every part points at the first one, so "all" covers them.
    root = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts")
    reason = models.CharField(max_length=200, blank=True)
    override_reason = models.CharField(
        max_length=200, blank=True, help_text="Why the series may be booked outside working hours or blocks"
    )
    # Occurrences the horizon reached but could not book (slot taken, time off): [{"start": iso, "why": text}].
    # Shown on the appointments page so that nothing vanishes silently.
    skipped = models.JSONField(default=list, blank=True)
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
    override_reason = models.CharField(
        max_length=200, blank=True, help_text="Why it was booked outside working hours or in blocked time"
    )
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
            # "What overlaps this day" (the calendar, selectors.calendar): a range search, whatever the history.
            # A btree on start can bound only one end of the interval and reads every earlier appointment.
            GistIndex(TsTzRange("start", "end", RangeBoundary()), name="appt_span"),
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
                violation_error_message="That occurrence of the series already exists.",
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
    # Starts of offers the patient declined (ISO): the same slot is not offered to them again.
    declined = models.JSONField(default=list, blank=True)
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
                condition=models.Q(latest__gte=models.F("earliest")),
                name="waitlist_range_order",
                violation_error_message="The latest date must not be before the earliest date.",
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
            models.UniqueConstraint(
                fields=["appointment", "channel"],
                name="reminder_unique_channel",
                violation_error_message="That reminder is already planned.",
            )
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
    temperature = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    weight = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_score = models.PositiveSmallIntegerField("Pain (0-10)", null=True, blank=True)
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
    interpretation = models.CharField(max_length=2, choices=Interpretation.choices, blank=True)
    status = models.CharField(
        max_length=20, choices=ObservationStatus.choices, default=ObservationStatus.FINAL
    )
    effective = models.DateTimeField()
    issued = models.DateTimeField(null=True, blank=True)

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


# ------------------------------------------------------------------ calendar subscription
class ProviderFeed(models.Model):
    """A provider's iCalendar subscription: calendar apps cannot sign in, so the URL carries a secret token.
    Only its SHA-256 is stored; regenerating replaces it (the old URL stops working), revoking deletes it."""

    provider = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"calendar feed of {self.provider}"
