"""Scheduling: locations, rooms, appointment types, working hours, time off, appointments, recurring series, the
waitlist, reminders and providers' calendar feeds. Single-row rules only; logic is in services.py and its neighbours.

The models moved here from `encounters` in place (migrations 0001 of this app): each keeps its table
(`db_table = "encounters_<model>"`), its constraints and the triggers on it."""

import uuid

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.contrib.postgres.indexes import GistIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Func


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


class Location(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True)
    address = models.CharField(max_length=300, blank=True)
    # A location the clinic no longer uses is kept (appointments and working hours name it) but not offered.
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "encounters_location"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Room(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=60)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "encounters_room"
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
    # Offered when booking; a type no longer offered stays on the appointments already booked with it.
    offered = models.BooleanField(default=True)

    class Meta:
        db_table = "encounters_appointmenttype"
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
        db_table = "encounters_workinghours"
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
        # Also before the row is read back (the write log names a row just created, times possibly given as text).
        start, end = (
            t.strftime("%H:%M") if hasattr(t, "strftime") else str(t)[:5]
            for t in (self.start_time, self.end_time)
        )
        return f"{self.provider} {self.get_weekday_display()} {start}-{end}"

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
        db_table = "encounters_timeoff"
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
        db_table = "encounters_series"
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
        db_table = "encounters_appointment"
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
        db_table = "encounters_waitlistentry"
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
        db_table = "encounters_reminder"
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

    class Meta:
        db_table = "encounters_providerfeed"

    def __str__(self):
        return f"calendar feed of {self.provider}"
