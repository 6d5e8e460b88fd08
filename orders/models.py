"""Orders and results: the test catalogue, performing labs, orders, the HL7 outbox, every inbound message kept
verbatim, and the result reports that link filed results (encounters.Observation) to their order and message."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from audit import categories


class TestKind(models.TextChoices):
    LAB = "lab", "Laboratory"
    IMAGING = "imaging", "Imaging"
    POC = "poc", "In-office (point of care)"


class LabTest(models.Model):
    """A catalogue entry (LOINC-coded): what the lab needs to know to collect and run it.

    ``questions``: ask-at-order-entry questions, [{"code", "text", "kind": yesno|text|number|choice, "choices",
    "required"}]. ``components``: for in-office tests, the values entered by hand, [{"loinc", "name", "unit",
    "low", "high", "kind": number|choice, "choices", "normal"}]."""

    loinc = models.CharField("LOINC code", max_length=20, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=TestKind.choices, default=TestKind.LAB)
    specimen = models.CharField(max_length=100, blank=True)
    container = models.CharField(max_length=100, blank=True)
    questions = models.JSONField(default=list, blank=True)
    components = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} (LOINC {self.loinc})"


class PerformingLab(models.Model):
    """A laboratory or imaging site that takes HL7 v2 orders over MLLP."""

    name = models.CharField(max_length=200)
    application = models.CharField("HL7 receiving application (MSH-5)", max_length=40)
    facility = models.CharField("HL7 receiving facility (MSH-6)", max_length=40, unique=True)
    host = models.CharField(max_length=200, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def electronic(self) -> bool:
        return bool(self.host and self.port)


class Priority(models.TextChoices):
    ROUTINE = "routine", "Routine"
    URGENT = "urgent", "Urgent"
    STAT = "stat", "STAT"


class OrderStatus(models.TextChoices):
    SIGNED = "signed", "Signed"
    QUEUED = "queued", "Waiting to send"
    SENT = "sent", "Received by the lab"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    PRELIMINARY = "preliminary", "Preliminary result"
    FINAL = "final", "Final result"
    CORRECTED = "corrected", "Corrected result"
    COMPLETED = "completed", "Done in office"
    CANCELLED = "cancelled", "Cancelled"


class Order(models.Model):
    audit_category = categories.RESULTS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="lab_orders")
    encounter = models.ForeignKey(
        "encounters.Encounter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    test = models.ForeignKey(LabTest, on_delete=models.PROTECT, related_name="+")
    ordering_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lab_orders"
    )
    lab = models.ForeignKey(PerformingLab, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    diagnoses = models.JSONField(default=list, help_text='[{"code": "E11.9", "description": "..."}]')
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    answers = models.JSONField(default=list, blank=True, help_text='[{"code", "text", "answer"}]')
    # ORC-2 / OBR-2: ours, 12 characters, never truncated by a lab (ORC-2.1 allows 199).
    placer_number = models.CharField(max_length=22, unique=True)
    filler_number = models.CharField(max_length=40, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.SIGNED)
    status_reason = models.CharField(max_length=500, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "-created_at"], name="order_patient_time")]

    def __str__(self):
        return f"{self.test.name} {self.placer_number}"


class OutboundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    ACKNOWLEDGED = "acknowledged", "Accepted by the lab"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class OutboundMessage(models.Model):
    """One HL7 message to a lab (transactional outbox; its bytes and control id are fixed when stored)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="messages")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    lab = models.ForeignKey(PerformingLab, on_delete=models.PROTECT, related_name="+")
    message_type = models.CharField(max_length=10, default="ORM^O01")
    control_id = models.CharField(max_length=20, unique=True)
    payload = models.BinaryField()
    status = models.CharField(max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_answer = models.CharField(max_length=200, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "updated_at"], name="order_outbox_due")]

    def __str__(self):
        return f"{self.message_type} {self.control_id}"


class InboundStatus(models.TextChoices):
    FILED = "filed", "Filed"
    UNMATCHED = "unmatched", "Waiting to be matched"
    ATTACHED = "attached", "Attached by staff"
    REJECTED = "rejected", "Refused"
    DUPLICATE = "duplicate", "Duplicate (already received)"
    ERROR = "error", "Error while filing"


class InboundMessage(models.Model):
    """Every message that arrived, byte for byte, with what became of it. Never deleted."""

    audit_category = categories.RESULTS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField(auto_now_add=True)
    raw = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    peer = models.CharField(max_length=100, blank=True)
    sending_facility = models.CharField(max_length=40, blank=True)
    control_id = models.CharField(max_length=40, blank=True)
    message_type = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=12, choices=InboundStatus.choices)
    outcome = models.CharField(max_length=500, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The unmatched queue: who attached it to which patient.
    candidates = models.JSONField(default=list, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        permissions = [("resolve_unmatched", "See results that matched no patient and attach them to one")]
        indexes = [models.Index(fields=["status", "-received_at"], name="inbound_status_time")]
        constraints = [
            # Exactly once: one first copy per (sender, control id); re-sends are recorded as duplicates.
            models.UniqueConstraint(
                fields=["sending_facility", "control_id"],
                condition=Q(duplicate_of__isnull=True, status__in=["filed", "unmatched", "attached"])
                & ~Q(control_id=""),
                name="inbound_control_id_once",
            ),
        ]

    def __str__(self):
        return f"{self.message_type or 'message'} {self.control_id} ({self.get_status_display()})"


class ReportStatus(models.TextChoices):
    PRELIMINARY = "preliminary", "Preliminary"
    FINAL = "final", "Final"
    CORRECTED = "corrected", "Corrected"


class ResultReport(models.Model):
    """One result group (ORU OBR, or an in-office test) filed to a chart. Its values are encounters.Observation
    rows carrying this report's id (Observation.report_id)."""

    audit_category = categories.RESULTS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="result_reports")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    message = models.ForeignKey(
        InboundMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    ordering_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    loinc = models.CharField(max_length=20)
    test_name = models.CharField(max_length=200)
    filler_number = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=12, choices=ReportStatus.choices)
    is_critical = models.BooleanField(default=False)
    is_abnormal = models.BooleanField(default=False)
    observed_at = models.DateTimeField()
    filed_at = models.DateTimeField(auto_now_add=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-filed_at"]
        indexes = [
            models.Index(
                fields=["ordering_clinician", "-is_critical", "-is_abnormal", "-filed_at"],
                condition=Q(reviewed_at__isnull=True, superseded_by__isnull=True),
                name="report_to_review",
            ),
            models.Index(fields=["patient", "-filed_at"], name="report_patient_time"),
        ]

    def __str__(self):
        return f"{self.test_name} {self.get_status_display()}"
