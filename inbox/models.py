"""The clinical inbox: one work queue per clinician and per care team.

An item is something a person must look at and close: a new result (critical and abnormal first), a result to
sign, a pharmacy's renewal or change request, a follow-up task, and later documents, patient messages and device
alerts. Items are posted by the apps that know about the work (`inbox/sources.py`): each source names its item
with a key unique per kind, so a message or signal sent twice never makes two items.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Kind(models.TextChoices):
    CRITICAL_RESULT = "critical_result", "Critical result"
    RESULT = "result", "New result"
    RESULT_TO_SIGN = "result_to_sign", "Result to sign"
    UNMATCHED_RESULT = "unmatched_result", "Unmatched result"
    RENEWAL_REQUEST = "renewal_request", "Renewal request"
    CHANGE_REQUEST = "change_request", "Change request"
    TASK = "task", "Task"
    # Room for what later issues add.
    DOCUMENT = "document", "Document to file"
    PATIENT_MESSAGE = "patient_message", "Patient message"
    DEVICE_ALERT = "device_alert", "Device alert"


# A pharmacy's request is answered on its own page by the prescriber it was sent to (NCPDP: approve = sign).
PHARMACY_KINDS = frozenset({Kind.RENEWAL_REQUEST, Kind.CHANGE_REQUEST})
RESULT_KINDS = frozenset({Kind.CRITICAL_RESULT, Kind.RESULT, Kind.RESULT_TO_SIGN, Kind.UNMATCHED_RESULT})


class Priority(models.IntegerChoices):
    """Sorted ascending: critical first, then abnormal, then the rest."""

    CRITICAL = 0, "Critical"
    ABNORMAL = 1, "Abnormal"
    NORMAL = 2, "Normal"


class State(models.TextChoices):
    NEW = "new", "New"
    SEEN = "seen", "Seen"
    DONE = "done", "Done"


class InboxItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Null only for what matches no chart yet (an unmatched result): never a guessed patient.
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inbox_items",
    )
    team = models.ForeignKey("auth.Group", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    state = models.CharField(max_length=5, choices=State.choices, default=State.NEW)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    # Where the source is: a URL name and its arguments (reversed when shown), or a plain path.
    link_name = models.CharField(max_length=100, blank=True)
    link_args = models.JSONField(default=list, blank=True)
    link_url = models.CharField(max_length=500, blank=True)
    # The source's own key (a pharmacy request's id, a result's id): unique per kind, "" for hand-made tasks.
    source_ref = models.CharField(max_length=200, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="follow_ups"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    due_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inbox_escalated",
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["priority", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source_ref"], condition=~Q(source_ref=""), name="inbox_item_source_once"
            ),
            models.CheckConstraint(
                condition=Q(assignee__isnull=False) | Q(team__isnull=False), name="inbox_item_has_owner"
            ),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(completed_at__isnull=False), name="inbox_item_done_has_time"
            ),
        ]
        indexes = [
            # The queues: open items of a person / a team / an escalation, critical first, newest first.
            models.Index(
                fields=["assignee", "priority", "-created_at"],
                condition=~Q(state="done"),
                name="inbox_open_by_assignee",
            ),
            models.Index(
                fields=["team", "priority", "-created_at"],
                condition=~Q(state="done"),
                name="inbox_open_by_team",
            ),
            models.Index(
                fields=["escalated_to", "priority", "-created_at"],
                condition=~Q(state="done"),
                name="inbox_open_by_escalation",
            ),
            models.Index(
                fields=["escalate_at"],
                condition=~Q(state="done") & Q(escalated_at__isnull=True) & Q(escalate_at__isnull=False),
                name="inbox_escalation_due",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.title}"

    def source_url(self) -> str:
        """The page of the thing the item is about ("" if it has none or it cannot be reversed)."""
        if self.link_url:
            return self.link_url
        if not self.link_name:
            return ""
        from django.urls import NoReverseMatch, reverse

        from core.links import pk_url

        try:
            if len(self.link_args) == 1:
                return pk_url(self.link_name, self.link_args[0])
            return reverse(self.link_name, args=self.link_args)
        except (NoReverseMatch, ValueError):
            return ""

    @property
    def is_pharmacy_request(self) -> bool:
        return self.kind in PHARMACY_KINDS

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return self.due_at is not None and self.state != State.DONE and self.due_at < timezone.now()


class EventKind(models.TextChoices):
    POSTED = "posted", "Arrived"
    SEEN = "seen", "Opened"
    FORWARDED = "forwarded", "Forwarded"
    SIGNED = "signed", "Signed off"
    CLOSED = "closed", "Closed at the source"
    TASK = "task", "Follow-up task created"
    NOTIFIED = "notified", "Patient notice requested"
    ESCALATED = "escalated", "Escalated"


class InboxEvent(models.Model):
    """The item's history: who forwarded it to whom with what note, sign-off, escalation. Never changed."""

    item = models.ForeignKey(InboxItem, on_delete=models.CASCADE, related_name="events")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_team = models.ForeignKey(
        "auth.Group", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "Pending delivery"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


class PatientNotice(models.Model):
    """ "Notify the patient": the message a clinician wants the patient to get. The patient portal does not exist
    yet, so a notice waits, shown as pending delivery, until a portal (or a letter) delivers it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(InboxItem, on_delete=models.PROTECT, related_name="notices")
    message = models.TextField()
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="inbox_notice_pending")]

    def __str__(self):
        return f"Notice {self.get_status_display().lower()} ({self.created_at:%Y-%m-%d})"


class Coverage(models.Model):
    """Who covers a clinician: where their items go when they sit too long (escalation), a colleague and/or a
    care team. Kept by practice admins in the admin site."""

    clinician = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_coverage"
    )
    covering = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The colleague who gets this clinician's overdue items.",
    )
    team = models.ForeignKey(
        "auth.Group",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The care team whose queue gets them (when no colleague is named, or as well).",
    )

    class Meta:
        verbose_name_plural = "coverage"
        constraints = [
            models.CheckConstraint(
                condition=Q(covering__isnull=False) | Q(team__isnull=False),
                name="inbox_coverage_names_someone",
            ),
            models.CheckConstraint(
                condition=~Q(covering=models.F("clinician")), name="inbox_coverage_not_self"
            ),
        ]

    def __str__(self):
        return f"Coverage for {self.clinician}"
