"""E-prescribing: the drug catalog, interaction knowledge, pharmacies, prescriptions, the outbox and the inbox.

Single-row rules only (constraints the database keeps); every decision lives in services.py.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.urls import reverse

from patients.crypto import EncryptedTextField

from . import ncpdp


class DeaSchedule(models.TextChoices):
    NONE = "", "Not controlled"
    II = "II", "Schedule II"
    III = "III", "Schedule III"
    IV = "IV", "Schedule IV"
    V = "V", "Schedule V"


# NCI DEASchedule codes (reference §5) for each schedule.
DEA_SCHEDULE_CODES = {
    "": ncpdp.DEA_SCHEDULE_NONE,
    "II": "C48675",
    "III": "C48676",
    "IV": "C48677",
    "V": "C48679",
}


# ------------------------------------------------------------------ catalog and knowledge
class Medication(models.Model):
    """A prescribable product (RxNorm concept). Loaded by `manage.py load_catalog`."""

    rxcui = models.CharField("RxCUI", max_length=20, unique=True)
    name = models.CharField(max_length=500)
    strength = models.CharField(max_length=200, blank=True)
    dose_form = models.CharField(max_length=100, blank=True)
    tty = models.CharField("term type", max_length=20, blank=True)
    dea_schedule = models.CharField(max_length=3, choices=DeaSchedule.choices, blank=True, default="")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        indexes = [GinIndex(name="medication_name_trgm", fields=["name"], opclasses=["gin_trgm_ops"])]

    def __str__(self):
        return self.name

    @property
    def is_controlled(self) -> bool:
        return bool(self.dea_schedule)


class MedicationIngredient(models.Model):
    medication = models.ForeignKey(Medication, on_delete=models.CASCADE, related_name="ingredients")
    ingredient_key = models.CharField(
        max_length=200, db_index=True, help_text="ehr.refdata.ingredient_key(name)"
    )
    ingredient_rxcui = models.CharField(max_length=20, blank=True)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["medication", "ingredient_key"], name="medingr_unique")
        ]

    def __str__(self):
        return self.name


class InteractionSeverity(models.TextChoices):
    HIGH = "high", "High (interrupts)"
    LOW = "low", "Low (shown inline)"


class Interaction(models.Model):
    """A drug-drug interaction between two ingredient keys; the pair is stored ordered (key_a < key_b)."""

    key_a = models.CharField(max_length=200)
    key_b = models.CharField(max_length=200)
    severity = models.CharField(max_length=4, choices=InteractionSeverity.choices)
    source = models.CharField(max_length=40)
    description = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key_a", "key_b", "source"], name="interaction_unique_pair_source"
            ),
            models.CheckConstraint(
                condition=models.Q(key_a__lt=models.F("key_b")), name="interaction_ordered_pair"
            ),
        ]
        indexes = [models.Index(fields=["key_a", "key_b"], name="interaction_pair")]

    def __str__(self):
        return f"{self.key_a} + {self.key_b} ({self.severity}, {self.source})"


class Pharmacy(models.Model):
    ncpdp_id = models.CharField("NCPDP ID", max_length=7, unique=True)
    npi = models.CharField("NPI", max_length=10, blank=True)
    name = models.CharField(max_length=70)
    address_line = models.CharField(max_length=40, blank=True)
    city = models.CharField(max_length=60, blank=True)
    state = models.CharField(max_length=2, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    fax = models.CharField(max_length=20, blank=True)
    accepts = ArrayField(
        models.CharField(max_length=30),
        default=list,
        blank=True,
        help_text="SCRIPT message types this pharmacy receives electronically",
    )
    endpoint = models.URLField(max_length=300, blank=True)
    inbound_secret = EncryptedTextField(
        blank=True, null=True, help_text="Shared HMAC secret for messages this pharmacy sends us"
    )
    is_electronic = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "pharmacies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ncpdp_id__regex=r"^\d{7}$"), name="pharmacy_ncpdp_7_digits"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.city})" if self.city else self.name


class PatientPharmacy(models.Model):
    """The patient's preferred pharmacy (one per patient)."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.CASCADE, related_name="preferred_pharmacy"
    )
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return str(self.pharmacy)


# ------------------------------------------------------------------ prescriptions
class Frequency(models.TextChoices):
    QD = "QD", "once daily"
    BID = "BID", "twice daily"
    TID = "TID", "three times daily"
    QID = "QID", "four times daily"
    Q4H = "Q4H", "every 4 hours"
    Q6H = "Q6H", "every 6 hours"
    Q8H = "Q8H", "every 8 hours"
    Q12H = "Q12H", "every 12 hours"
    QHS = "QHS", "at bedtime"
    QAM = "QAM", "every morning"
    QWEEK = "QWEEK", "once weekly"
    ONCE = "ONCE", "once"


class Route(models.TextChoices):
    PO = "PO", "by mouth"
    SL = "SL", "under the tongue"
    TOP = "TOP", "on the skin"
    INH = "INH", "by inhalation"
    PR = "PR", "rectally"
    SC = "SC", "under the skin"
    IM = "IM", "into the muscle"
    OPH = "OPH", "in the eye"
    NAS = "NAS", "in the nose"


class DoseUnit(models.TextChoices):
    TABLET = "tablet", "tablet"
    CAPSULE = "capsule", "capsule"
    ML = "mL", "mL"
    MG = "mg", "mg"
    PUFF = "puff", "puff"
    DROP = "drop", "drop"
    PATCH = "patch", "patch"
    UNIT = "unit", "unit"
    APPLICATION = "application", "application"


class RxStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    PRINTED = "printed", "Printed"
    ERROR = "error", "Error"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"
    CANCELLED = "cancelled", "Cancelled"
    RENEWED = "renewed", "Renewed"
    REPLACED = "replaced", "Replaced"


class Prescription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="prescriptions")
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prescriptions"
    )
    medication = models.ForeignKey(Medication, on_delete=models.PROTECT, related_name="+")
    # Denormalized from the medication at writing time so the database can forbid CII refills by itself.
    dea_schedule = models.CharField(max_length=3, choices=DeaSchedule.choices, blank=True, default="")
    dose = models.DecimalField(max_digits=8, decimal_places=3)
    dose_unit = models.CharField(max_length=20, choices=DoseUnit.choices)
    route = models.CharField(max_length=5, choices=Route.choices, default=Route.PO)
    frequency = models.CharField(max_length=6, choices=Frequency.choices)
    duration_days = models.PositiveSmallIntegerField(null=True, blank=True)
    as_needed = models.BooleanField(default=False)
    as_needed_reason = models.CharField(max_length=100, blank=True)
    sig_text = models.CharField(max_length=1000)
    quantity = models.DecimalField(max_digits=10, decimal_places=3)
    quantity_unit = models.CharField(
        max_length=8, choices=sorted(ncpdp.QUANTITY_UNITS.items(), key=lambda i: i[1])
    )
    days_supply = models.PositiveSmallIntegerField(null=True, blank=True)
    refills = models.PositiveSmallIntegerField(default=0)
    substitution_allowed = models.BooleanField(default=True)
    note_to_pharmacist = models.CharField(max_length=210, blank=True)
    diagnosis = models.CharField("diagnosis (ICD-10-CM)", max_length=10, blank=True)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=20, choices=RxStatus.choices, default=RxStatus.DRAFT)
    status_reason = models.CharField(max_length=500, blank=True)
    prescriber_order_number = models.CharField(max_length=35, unique=True)
    override_reasons = models.JSONField(
        default=list, blank=True, help_text='[{"source", "message", "reason"}] for high-severity alerts'
    )
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["patient", "-created_at"], name="rx_patient_created"),
            models.Index(fields=["status"], name="rx_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="rx_quantity_positive"),
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="rx_dose_positive"),
            models.CheckConstraint(
                condition=models.Q(refills__gte=0, refills__lte=99), name="rx_refills_0_99"
            ),
            # 21 CFR 1306.12: a Schedule II prescription may not be refilled.
            models.CheckConstraint(
                condition=~models.Q(dea_schedule="II") | models.Q(refills=0), name="rx_schedule_ii_no_refills"
            ),
        ]

    def __str__(self):
        return f"{self.medication} — {self.sig_text}"

    def get_absolute_url(self):
        return reverse("prescriptions:detail", args=[self.pk])


class PrescriptionEvent(models.Model):
    """The status timeline shown on the prescription page."""

    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=20, choices=RxStatus.choices)
    at = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M}"


# ------------------------------------------------------------------ outbox and inbox
class OutboundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent (accepted by the network)"
    ACKNOWLEDGED = "acknowledged", "Acknowledged by the pharmacy"
    FAILED = "failed", "Failed"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class OutboundMessage(models.Model):
    """One SCRIPT message to send. The XML is built once, at signing, so every retry sends the same MessageID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, null=True, blank=True, related_name="outbound"
    )
    inbox_item = models.ForeignKey(
        "InboxItem", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    message_type = models.CharField(max_length=30)
    message_id = models.CharField(max_length=35, unique=True)
    payload = models.BinaryField()
    endpoint = models.URLField(max_length=300)
    status = models.CharField(max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "updated_at"], name="outbound_status_updated")]

    def __str__(self):
        return f"{self.message_type} {self.message_id} ({self.status})"


class InboxKind(models.TextChoices):
    RENEWAL = "renewal", "Renewal request"
    CHANGE = "change", "Change request"
    CANCEL_RESPONSE = "cancel_response", "Cancel response"


class InboxStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CLOSED = "closed", "Closed"


class InboxItem(models.Model):
    """A pharmacy's request waiting for the prescriber. The MessageID is unique: a re-delivery is not a new item."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=InboxKind.choices)
    message_id = models.CharField(max_length=35, unique=True)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="+")
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rx_inbox"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, null=True, blank=True, related_name="inbox_items"
    )
    payload = models.BinaryField()
    summary = models.CharField(max_length=500)
    fields = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=InboxStatus.choices, default=InboxStatus.OPEN)
    received_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["prescriber", "status"], name="inbox_prescriber_status")]

    def __str__(self):
        return self.summary
