"""E-prescribing: the drug catalog, interaction knowledge, pharmacies, prescriptions, the outbox and the inbox.

Single-row rules only (constraints the database keeps); every decision lives in services.py.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.db.models.functions import Now

from accounts.validators import validate_npi
from core.links import pk_url
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
SCHEDULES_BY_CODE = {code: schedule for schedule, code in DEA_SCHEDULE_CODES.items() if schedule}

# Federal refill limits: 21 CFR 1306.12 (Schedule II: no refills), 21 CFR 1306.22 (Schedules III-V: at most five).
MAX_REFILLS_CONTROLLED = 5


def refill_limit(schedule: str) -> int:
    """The most refills a prescription of this DEA schedule may carry."""
    if schedule == DeaSchedule.II:
        return 0
    if schedule in (DeaSchedule.III, DeaSchedule.IV, DeaSchedule.V):
        return MAX_REFILLS_CONTROLLED
    return ncpdp.MAX_REFILLS


# What a pharmacy can receive from a prescriber (Pharmacy.accepts holds a subset of these).
PHARMACY_MESSAGE_TYPES = (
    ncpdp.NEW_RX,
    ncpdp.CANCEL_RX,
    ncpdp.RX_RENEWAL_RESPONSE,
    ncpdp.RX_CHANGE_RESPONSE,
)


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

    @property
    def sig_defaults(self) -> dict[str, str]:
        """Dose unit, route and dispensing unit the prescribe form starts from (``sig_rules``)."""
        from .sig_rules import sig_defaults

        return sig_defaults(self)


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


def validate_accepts(value) -> None:
    unknown = sorted(set(value or ()) - set(PHARMACY_MESSAGE_TYPES))
    if unknown:
        raise ValidationError(f"Unknown message type(s): {', '.join(unknown)}.")


class Pharmacy(models.Model):
    """A directory entry. Practice admins edit it in the Django admin; full_clean() checks every rule below."""

    ncpdp_id = models.CharField(
        "NCPDP ID",
        max_length=7,
        unique=True,
        validators=[RegexValidator(r"^\d{7}$", "The NCPDP ID is exactly 7 digits.")],
    )
    npi = models.CharField("NPI", max_length=10, blank=True, validators=[validate_npi])
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
        validators=[validate_accepts],
        help_text="SCRIPT message types this pharmacy receives electronically",
    )
    endpoint = models.URLField(
        max_length=300, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
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
            models.CheckConstraint(
                condition=models.Q(npi="") | models.Q(npi__regex=r"^\d{10}$"), name="pharmacy_npi_10_digits"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.city})" if self.city else self.name

    def clean(self):
        if self.is_electronic and not self.endpoint:
            raise ValidationError({"endpoint": "An electronic pharmacy needs its endpoint URL."})
        if self.is_electronic and not self.accepts:
            raise ValidationError(
                {"accepts": "Tick the message types this pharmacy receives electronically."}
            )

    def accepts_message(self, message_type: str) -> bool:
        """Whether a message of this type may be sent to this pharmacy electronically."""
        return bool(self.is_electronic and self.endpoint and message_type in (self.accepts or ()))


class PatientPharmacy(models.Model):
    """The patient's preferred pharmacy (one per patient)."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.CASCADE, related_name="preferred_pharmacy"
    )
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return str(self.pharmacy)


class PrescriberSpi(models.Model):
    """The prescriber's SPI (Surescripts Prescriber ID), the routing ID in a message header's From (reference §1).

    The network assigns it per prescriber and practice location (13 digits in the public samples). Practice admins
    record it in the Django admin. Without one, ``spi_for`` derives a stand-in from the NPI (see there).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rx_spi")
    spi = models.CharField(
        "SPI",
        max_length=13,
        unique=True,
        validators=[RegexValidator(r"^\d{13}$", "The SPI is 13 digits.")],
    )

    class Meta:
        verbose_name = "prescriber SPI"
        constraints = [
            models.CheckConstraint(condition=models.Q(spi__regex=r"^\d{13}$"), name="spi_13_digits")
        ]

    def __str__(self):
        return self.spi


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
    IV = "IV", "into a vein"
    OPH = "OPH", "in the eye"
    NAS = "NAS", "in the nose"
    OTIC = "OTIC", "in the ear"


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
    SPRAY = "spray", "spray"
    SUPPOSITORY = "suppository", "suppository"


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
    diagnosis_description = models.CharField(max_length=300, blank=True)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=20, choices=RxStatus.choices, default=RxStatus.DRAFT)
    status_reason = models.CharField(max_length=500, blank=True)
    # What the prescription was when a CancelRx went out: a denied CancelRxResponse puts it back.
    status_before_cancel = models.CharField(max_length=20, choices=RxStatus.choices, blank=True)
    prescriber_order_number = models.CharField(max_length=35, unique=True)
    override_reasons = models.JSONField(
        default=list, blank=True, help_text='[{"source", "message", "reason"}] for high-severity alerts'
    )
    # The prescription this one renews or replaces (an approved RxRenewalRequest / RxChangeRequest).
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Last change (FHIR `_lastUpdated` and `_since`): auto_now renews it on every save; the database default
    # fills it for rows written by COPY (the bench seeders).
    updated_at = models.DateTimeField(auto_now=True, db_index=True, db_default=Now())
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
            # A tablet or capsule is swallowed or dissolved under the tongue: never injected, inhaled or instilled.
            models.CheckConstraint(
                condition=~models.Q(dose_unit__in=["tablet", "capsule"]) | models.Q(route__in=["PO", "SL"]),
                name="rx_solid_dose_oral_route",
            ),
            models.CheckConstraint(
                condition=models.Q(refills__gte=0, refills__lte=99), name="rx_refills_0_99"
            ),
            # 21 CFR 1306.12: a Schedule II prescription may not be refilled.
            models.CheckConstraint(
                condition=~models.Q(dea_schedule="II") | models.Q(refills=0), name="rx_schedule_ii_no_refills"
            ),
            # 21 CFR 1306.22: Schedules III-V at most five refills.
            models.CheckConstraint(
                condition=~models.Q(dea_schedule__in=["III", "IV", "V"]) | models.Q(refills__lte=5),
                name="rx_schedule_iii_v_max_5_refills",
            ),
        ]

    def __str__(self):
        return f"{self.medication} — {self.sig_text}"

    def get_absolute_url(self):
        return pk_url("prescriptions:detail", self.pk)


class PrescriptionEvent(models.Model):
    """The status timeline shown on the prescription page."""

    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="events")
    # Denormalized from the prescription so audit events name the patient (audit/signals.py reads patient_id).
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
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
    WITHDRAWN = "withdrawn", "Withdrawn (never to be sent)"


class OutboundMessage(models.Model):
    """One SCRIPT message to send. The XML is built once, at signing, so every retry sends the same MessageID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, null=True, blank=True, related_name="outbound"
    )
    inbox_item = models.ForeignKey(
        "InboxItem", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Denormalized from the prescription, for the audit trail (see PrescriptionEvent.patient).
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The addressee: asynchronous answers are accepted only from it.
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    message_type = models.CharField(max_length=30)
    message_id = models.CharField(max_length=35, unique=True)
    payload = models.BinaryField()
    endpoint = models.URLField(max_length=300)
    status = models.CharField(max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Pending: when to try again. Sent (Status 000): when the final answer is due (then it needs attention).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_answer = models.CharField(max_length=40, blank=True, help_text='e.g. "Status 010", "Error 900"')
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


class InboundAnswer(models.Model):
    """An asynchronous Status, Verify or Error a pharmacy sent about one of our messages (reference §3, §6).

    The MessageID is unique: a re-delivery is answered again but applied once.
    """

    message_id = models.CharField(max_length=35, unique=True)
    message_type = models.CharField(max_length=30)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="+")
    outbound = models.ForeignKey(OutboundMessage, on_delete=models.PROTECT, related_name="answers")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    code = models.CharField(max_length=10, blank=True)
    description = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at"]

    def __str__(self):
        return f"{self.message_type} {self.code} for {self.outbound_id}"


class InboundNonce(models.Model):
    """Replay protection for the inbound endpoint, in PostgreSQL (works while Redis is down).

    A nonce is kept until ``expires_at`` (past the signature's accepted clock skew); the beat task
    ``purge_inbound_nonces`` deletes expired rows.
    """

    pharmacy_ncpdp_id = models.CharField(max_length=7)
    nonce = models.CharField(max_length=128)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pharmacy_ncpdp_id", "nonce"], name="inbound_nonce_unique")
        ]
        indexes = [models.Index(fields=["expires_at"], name="inbound_nonce_expiry")]

    def __str__(self):
        return f"{self.pharmacy_ncpdp_id}:{self.nonce}"
