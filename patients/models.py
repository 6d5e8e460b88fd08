import uuid
from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accounts import roles
from core.links import pk_url

from .crypto import EncryptedJSONField, EncryptedTextField

if TYPE_CHECKING:
    from .access import PatientAccess


class Department(models.Model):
    """Groups patients and staff. Members see demographics and schedules of the department's patients."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="departments")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SexAtBirth(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    UNKNOWN = "UNK", "Unknown"
    ASKED_DECLINED = "ASKU", "Asked but declined"


class GenderIdentity(models.TextChoices):
    # USCDI v3 gender identity, SNOMED CT concepts
    FEMALE = "446141000124107", "Identifies as female"
    MALE = "446151000124109", "Identifies as male"
    NON_BINARY = "33791000087105", "Identifies as non-conforming / non-binary"
    OTHER = "OTH", "Other"
    ASKED_DECLINED = "ASKU", "Asked but declined"
    UNKNOWN = "UNK", "Unknown"


class Race(models.TextChoices):
    # OMB categories (CDC Race & Ethnicity code system)
    AMERICAN_INDIAN = "1002-5", "American Indian or Alaska Native"
    ASIAN = "2028-9", "Asian"
    BLACK = "2054-5", "Black or African American"
    PACIFIC_ISLANDER = "2076-8", "Native Hawaiian or Other Pacific Islander"
    WHITE = "2106-3", "White"
    OTHER = "2131-1", "Other race"
    ASKED_DECLINED = "ASKU", "Asked but declined"
    UNKNOWN = "UNK", "Unknown"


class SexualOrientation(models.TextChoices):
    # USCDI v3 sexual orientation (SNOMED CT concepts and HL7 null flavours, as in ONC's value set)
    STRAIGHT = "20430005", "Straight or heterosexual"
    GAY_LESBIAN = "38628009", "Lesbian, gay or homosexual"
    BISEXUAL = "42035005", "Bisexual"
    OTHER = "OTH", "Something else"
    UNKNOWN = "UNK", "Don't know"
    ASKED_DECLINED = "ASKU", "Chose not to disclose"


class Ethnicity(models.TextChoices):
    HISPANIC = "2135-2", "Hispanic or Latino"
    NOT_HISPANIC = "2186-5", "Not Hispanic or Latino"
    ASKED_DECLINED = "ASKU", "Asked but declined"
    UNKNOWN = "UNK", "Unknown"


class AllergyStatus(models.TextChoices):
    UNKNOWN = "unknown", "Allergies not recorded"
    NKA = "nka", "No known allergies"
    HAS = "has", "Has allergies"


def display_name(given: str, family: str, preferred: str) -> str:
    """How a patient is named on screens: FAMILY, Given \u201cPreferred\u201d (Patient.display_name; the calendar calls it
    with the three columns alone)."""
    if preferred and preferred != given:
        given = f"{given} \u201c{preferred}\u201d"
    return f"{family.upper()}, {given}"


class Patient(models.Model):
    """USCDI v3 demographics. Identifiers and contact details are encrypted (patients/crypto.py)."""

    # Not a column: what the user may do, set by the door on the instance it hands out (selectors.patient_get).
    access: "PatientAccess"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mrn = models.CharField("MRN", max_length=12, unique=True, editable=False)
    given_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    suffix = models.CharField(max_length=20, blank=True)
    previous_names = models.JSONField(default=list, blank=True, help_text='[{"given": ..., "family": ...}]')
    birth_date = models.DateField()
    sex_at_birth = models.CharField(max_length=4, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=20, choices=GenderIdentity.choices, blank=True)
    sexual_orientation = models.CharField(max_length=20, choices=SexualOrientation.choices, blank=True)
    pronouns = models.CharField(max_length=40, blank=True)
    race = ArrayField(models.CharField(max_length=8, choices=Race.choices), default=list, blank=True)
    ethnicity = models.CharField(max_length=8, choices=Ethnicity.choices, blank=True)
    preferred_language = models.CharField(
        max_length=20, default="en", help_text="BCP 47 code, e.g. en, es, zh"
    )
    # USCDI v3: tribal affiliation (HL7 TribalEntityUS names), occupation and its industry (CDC ODH, as text).
    tribal_affiliation = models.CharField(max_length=200, blank=True)
    occupation = models.CharField(max_length=200, blank=True)
    occupation_industry = models.CharField(max_length=200, blank=True)
    deceased_date = models.DateField(null=True, blank=True)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="patients"
    )
    allergy_status = models.CharField(
        max_length=8, choices=AllergyStatus.choices, default=AllergyStatus.UNKNOWN
    )
    allergy_summary = models.CharField(
        max_length=200, blank=True, help_text="Banner text, kept by the allergy service"
    )

    # Encrypted identifiers and contacts, with blind indexes for exact search.
    ssn = EncryptedTextField("SSN or national ID", blank=True, null=True)
    ssn_bidx = models.CharField(max_length=40, blank=True, db_index=True)
    drivers_license = EncryptedTextField(blank=True, null=True)
    drivers_license_bidx = models.CharField(max_length=40, blank=True, db_index=True)
    phones = EncryptedJSONField(blank=True, null=True, help_text='[{"use": "mobile", "value": "+1 555 ..."}]')
    phone_bidx = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    email = EncryptedTextField(blank=True, null=True)
    # Current and previous addresses (FHIR Address.use "old" marks a previous one, USCDI v3 "previous address").
    addresses = EncryptedJSONField(blank=True, null=True)
    emergency_contacts = EncryptedJSONField(blank=True, null=True)
    key_version = models.PositiveSmallIntegerField(default=1)

    # Search: accent-free lower-case names (current, preferred, previous), trigram-indexed.
    name_search = models.TextField(blank=True, editable=False)

    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="aliases"
    )
    # Bumped by the database on every change to the row and to any record the chart page shows (triggers:
    # patients/chartversion.py). The chart's rendered body is cached under it (patients/chart.py).
    chart_version = models.BigIntegerField(default=0, db_default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        permissions = [(code, label) for code, label in roles.PATIENT_PERMISSION_LABELS.items()] + [
            ("register_patient", "Can register patients"),
            ("merge_patient", "Can merge duplicate patients"),
        ]
        indexes = [
            GinIndex(name="patient_name_trgm", fields=["name_search"], opclasses=["gin_trgm_ops"]),
            models.Index(fields=["birth_date"], name="patient_birth_date"),
            GinIndex(name="patient_phone_bidx", fields=["phone_bidx"]),
            models.Index(fields=["family_name", "given_name"], name="patient_family_given"),
        ]
        constraints = [
            # 7+ digit sequence number and a Luhn check digit: 8 digits up to 9,999,999 patients, then 9, 10 ...
            models.CheckConstraint(condition=models.Q(mrn__regex=r"^\d{8,12}$"), name="patient_mrn_format"),
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("id")), name="patient_not_merged_into_self"
            ),
            models.CheckConstraint(
                condition=models.Q(deceased_date__isnull=True)
                | models.Q(deceased_date__gte=models.F("birth_date")),
                name="patient_deceased_after_birth",
            ),
            # Time only moves forward, so a row valid today stays valid (safe on restore). Compared with the
            # database's clock in UTC, so it may admit "tomorrow" for a few hours; the form checks the local date.
            models.CheckConstraint(
                condition=models.Q(deceased_date__isnull=True) | models.Q(deceased_date__lte=Now()),
                name="patient_deceased_not_future",
            ),
        ]

    def __str__(self):
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self):
        return pk_url("patients:detail", self.pk)

    @property
    def display_name(self) -> str:
        return display_name(self.given_name, self.family_name, self.preferred_name)

    def age_on(self, on: date) -> int:
        b = self.birth_date
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))

    @property
    def age(self) -> int:
        return self.age_on(self.deceased_date or date.today())

    @property
    def race_labels(self) -> list[str]:
        """The race categories' names (the codes are CDC Race & Ethnicity codes, meaningless to a reader)."""
        labels = dict(Race.choices)
        return [labels.get(code, code) for code in self.race or ()]

    @property
    def current_addresses(self) -> list[dict]:
        return [a for a in self.addresses or () if a.get("use") != "old"]

    @property
    def previous_addresses(self) -> list[dict]:
        return [a for a in self.addresses or () if a.get("use") == "old"]

    @property
    def primary_phone(self) -> str:
        return (self.phones or [{}])[0].get("value", "") if self.phones else ""


class PatientNameWord(models.Model):
    """One word of a patient's searchable names, with the name the search list is sorted by.

    Derived from `Patient.name_search` by database triggers (migration 0003), so every write path (forms, merges,
    FHIR import, COPY) keeps it; nothing in Python writes it. The index on (word, family, given, patient) hands the
    search a word prefix's patients already in list order, so "john" stops after one page instead of ranking every
    John in the network (patients/selectors.py, docs/benchmark.md).
    """

    pk = models.CompositePrimaryKey("patient_id", "word")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="name_words")
    word = models.TextField(db_collation="C")  # normalised: [a-z0-9]+, so byte order is prefix order
    family_name = models.CharField(max_length=100)
    given_name = models.CharField(max_length=100)

    class Meta:
        indexes = [
            models.Index(
                fields=["word", "family_name", "given_name", "patient"], name="patient_name_word_order"
            ),
        ]

    def __str__(self):
        return self.word


class PatientNameVocabulary(models.Model):
    """Every distinct word of any patient's names: what a typo or a fragment inside a word is matched against.

    A network of a million patients has a few thousand to a few hundred thousand distinct name words, so a trigram
    match runs over those instead of rechecking every patient row whose names share a trigram with the query
    (hundreds to thousands per typo; docs/benchmark.md). The words found lead back to patients through
    PatientNameWord. Kept by a database trigger on PatientNameWord (migration 0004); a word no patient carries any
    more (after a rename) stays and matches nobody. Not linked to a patient, and read only by the search.
    """

    word = models.TextField(primary_key=True, db_collation="C")

    class Meta:
        indexes = [GinIndex(name="patient_vocabulary_trgm", fields=["word"], opclasses=["gin_trgm_ops"])]

    def __str__(self):
        return self.word


class PatientUserObjectPermission(UserObjectPermissionBase):
    """guardian direct foreign-key permissions: an indexed FK instead of a generic (text) object id."""

    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class PatientGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Patient, on_delete=models.CASCADE)


class CareTeamMember(models.Model):
    """A user or a group on a patient's care team. Membership is what grants access (patients/services.py)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="care_teams"
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="care_teams"
    )
    care_role = models.CharField(max_length=80, help_text="e.g. Primary care physician, Care coordinator")
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="careteam_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["patient", "user"],
                name="careteam_unique_user",
                condition=models.Q(user__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["patient", "group"],
                name="careteam_unique_group",
                condition=models.Q(group__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.user or self.group} ({self.care_role})"


class BreakGlassGrant(models.Model):
    """Emergency access: time-limited, with a mandatory reason, reported to privacy officers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="break_glass_grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="break_glass_grants"
    )
    reason = models.TextField()
    granted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "patient", "expires_at"], name="btg_user_patient_exp")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("granted_at")), name="btg_expires_later"
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="btg_reason_required"),
        ]

    def __str__(self):
        return f"{self.user} -> {self.patient_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class DuplicateOverride(models.Model):
    """Why a registration went ahead although possible duplicates were shown."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="duplicate_override")
    reason = models.TextField()
    candidates = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"override for {self.patient_id}"


class PatientMerge(models.Model):
    """One merge of a duplicate into a survivor: what moved, so it can be undone exactly."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    survivor = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="merges_received")
    merged = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="merges_as_duplicate")
    moved = models.JSONField(default=dict, help_text='{"app_label.model.field": [pk, ...]}')
    reason = models.TextField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(auto_now_add=True)
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"{self.merged_id} -> {self.survivor_id}"


# ------------------------------------------------------------ actors other than staff (core/actors.py)
# What a patient may do on their own record, and the most a proxy grant may give: read, and book their visits.
PORTAL_PERMISSIONS = (
    roles.VIEW_DEMOGRAPHICS,
    roles.VIEW_SCHEDULE,
    roles.MANAGE_SCHEDULE,
    roles.VIEW_CLINICAL,
)


class PatientAccount(models.Model):
    """A portal account: a user account of a patient or of someone acting for one (a parent who is no patient of
    the practice has no record of their own). Signing in with it acts as that patient (actor kind "patient") or,
    through a ProxyGrant, for another (kind "proxy"); never as staff (staff use accounts of their own)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_account"
    )
    patient = models.OneToOneField(
        Patient,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="account",
        help_text="Their own record",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user} is {self.patient_id or 'no patient'}"


class ProxyGrant(models.Model):
    """A user account may act for a patient (actor kind "proxy"): a parent, guardian or caregiver, within `scope`
    (patient permissions, at most PORTAL_PERMISSIONS), from `starts_at` until `expires_at` (to the minute) unless
    revoked. The door reads it on every access (patients/access.py), so an expiry or a revocation takes effect at
    once."""

    class Relationship(models.TextChoices):
        PARENT = "parent", "Parent"
        GUARDIAN = "guardian", "Legal guardian"
        CAREGIVER = "caregiver", "Caregiver"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="proxy_grants")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="proxy_grants")
    relationship = models.CharField(max_length=12, choices=Relationship.choices)
    scope = ArrayField(models.CharField(max_length=40, choices=[(p, p) for p in PORTAL_PERMISSIONS]))
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "patient", "expires_at"], name="proxy_user_patient_exp")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("starts_at")), name="proxy_expires_later"
            ),
            models.CheckConstraint(
                condition=models.Q(scope__contained_by=list(PORTAL_PERMISSIONS)),
                name="proxy_scope_portal_only",
            ),
        ]

    def __str__(self):
        return f"{self.user} for {self.patient_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class ClientBinding(models.Model):
    """What an OAuth client acting as itself (actor kind "system") is bound to: one patient, or the patients a
    care-team group holds grants on. A client without a binding reaches what its service account may."""

    client_id = models.CharField(max_length=100, unique=True)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patient__isnull=True) | models.Q(group__isnull=True),
                name="client_binding_patient_or_group",
            )
        ]

    def __str__(self):
        return f"{self.client_id} -> {self.patient_id or self.group_id}"


# ------------------------------------------------------------ insurance (billing, issue 26, builds on these)
class Payer(models.Model):
    """An insurer. `payer_id` is its electronic payer id (the clearinghouse's routing id), where known."""

    name = models.CharField(max_length=200, unique=True)
    payer_id = models.CharField("Payer ID", max_length=20, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.payer_id})" if self.payer_id else self.name


class CoverageOrder(models.IntegerChoices):
    PRIMARY = 1, "Primary"
    SECONDARY = 2, "Secondary"
    TERTIARY = 3, "Tertiary"


class SubscriberRelationship(models.TextChoices):
    """The patient's relationship to the subscriber (FHIR subscriber-relationship; X12 INS/PAT codes map 1:1)."""

    SELF = "self", "Self"
    SPOUSE = "spouse", "Spouse"
    CHILD = "child", "Child"
    PARENT = "parent", "Parent"
    COMMON = "common", "Common-law spouse"
    OTHER = "other", "Other"


class Coverage(models.Model):
    """A patient's insurance, in order (primary first). The member id is encrypted; the card photos are files
    encrypted at rest (patients/cards.py), named here by their storage name and shown only through the door."""

    audit_category = "insurance"  # audit.categories.INSURANCE: the write log's access events name it

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="coverages")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    order = models.PositiveSmallIntegerField(choices=CoverageOrder.choices, default=CoverageOrder.PRIMARY)
    member_id = EncryptedTextField("Member ID")
    group_number = models.CharField("Group number", max_length=40, blank=True)
    relationship = models.CharField(
        "Patient's relationship to the subscriber",
        max_length=8,
        choices=SubscriberRelationship.choices,
        default=SubscriberRelationship.SELF,
    )
    subscriber_name = models.CharField(
        max_length=150, blank=True, help_text="When the subscriber is not the patient"
    )
    subscriber_birth_date = models.DateField(null=True, blank=True)
    card_front = models.CharField(max_length=200, blank=True, editable=False)
    card_front_type = models.CharField(max_length=20, blank=True, editable=False)
    card_back = models.CharField(max_length=200, blank=True, editable=False)
    card_back_type = models.CharField(max_length=20, blank=True, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "order"], condition=models.Q(active=True), name="coverage_one_per_order"
            ),
            models.CheckConstraint(condition=models.Q(order__gte=1, order__lte=3), name="coverage_order_1_3"),
            models.CheckConstraint(condition=~models.Q(member_id=""), name="coverage_member_id_required"),
            models.CheckConstraint(
                condition=models.Q(relationship="self")
                | (~models.Q(subscriber_name="") & models.Q(subscriber_birth_date__isnull=False)),
                name="coverage_subscriber_named",
            ),
        ]

    def __str__(self):
        return f"{self.get_order_display()}: {self.payer.name}"
