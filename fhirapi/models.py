import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings


class PatientLaunchContext(models.Model):
    """The patient a `patient/*` token was launched for (SMART App Launch `launch/patient`).

    A patient-context token sees this one patient and nobody else, and still only with its user's own object
    permissions (fhirapi/auth.py). Deleting the token deletes its context.
    """

    token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL,
        on_delete=models.CASCADE,
        related_name="fhir_launch",
        # A plain reference: settings do not define OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL, which
        # a swappable reference would make migrations require.
        swappable=False,
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"token {self.token_id} -> patient {self.patient_id}"


class ImportedRecord(models.Model):
    """Where an imported row came from: (source, FHIR type, the id it had there) -> our row.

    Re-importing the same bundle finds its rows here and updates them instead of adding duplicates; several source
    resources may land in one row (a set of vital signs is one row here, several Observations there).
    """

    source = models.CharField(max_length=200, help_text="The sending system, e.g. its FHIR base URL")
    resource_type = models.CharField(max_length=40)
    source_id = models.CharField(max_length=64)
    target_model = models.CharField(max_length=60, help_text="app_label.model of the row it became")
    target_id = models.CharField(max_length=64)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now=True)
    # The resource as received, its references resolved to what serves them here, the id it is served under,
    # and a digest of the row it became as imported: while the row is unchanged the API serves the resource as
    # received (fhirapi/fidelity.py); once someone edits the row here, the row's values.
    resource = models.JSONField(null=True, blank=True)
    refs = models.JSONField(default=dict, blank=True)
    served_id = models.CharField(max_length=80, blank=True)
    row_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        permissions = [("import_bundle", "Can import FHIR bundles")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "resource_type", "source_id"], name="imported_record_unique"
            )
        ]
        indexes = [
            models.Index(fields=["target_model", "target_id"], name="imported_record_target"),
            models.Index(fields=["resource_type", "served_id"], name="imported_record_served"),
        ]

    def __str__(self):
        return f"{self.source} {self.resource_type}/{self.source_id} -> {self.target_model} {self.target_id}"


class LaunchGrant(models.Model):
    """The patient a user chose on the consent page of a standalone patient launch, kept with the authorization
    code until the token is issued (fhirapi/oauth.py)."""

    grant = models.OneToOneField(
        oauth2_settings.GRANT_MODEL, on_delete=models.CASCADE, related_name="fhir_launch", swappable=False
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"grant {self.grant_id} -> patient {self.patient_id}"


class KeptResource(models.Model):
    """A resource received in a bundle and kept as it was: a type the product does not model (Procedure,
    DiagnosticReport, CarePlan, Claim ...), or a resource whose values it could not use (with an OperationOutcome
    issue at import). The API serves it back by type and id, in searches, `$everything` and the EHI export, through
    the same door as the patient's other clinical data; its references point at what serves them here (`refs`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="kept_resources"
    )
    resource_type = models.CharField(max_length=40)
    source = models.CharField(max_length=200, help_text="The sending system")
    source_id = models.CharField(max_length=64, help_text="Its id in the sending system")
    resource = models.JSONField(help_text="The resource exactly as received")
    refs = models.JSONField(default=dict, blank=True, help_text="Reference as sent -> Type/id here")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "resource_type", "source_id", "patient"],
                name="kept_resource_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["patient", "resource_type"], name="kept_resource_patient_type")]

    def __str__(self):
        return f"{self.resource_type}/{self.source_id} from {self.source}"


class SmartClient(models.Model):
    """SMART settings of a registered application (made by administrators): the EHR launch URL (a "Launch app"
    action on the chart when set) and, for backend services, the public keys its signed client assertions are
    checked with (private_key_jwt, fhirapi/smart.py)."""

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="smart", swappable=False
    )
    launch_uri = models.URLField(
        blank=True, help_text="EHR launch: opened with ?iss=<FHIR base>&launch=<token>."
    )
    jwks = models.JSONField(
        blank=True,
        default=dict,
        help_text='Backend services: the client\'s public keys, {"keys": [...]} (JWKS).',
    )

    def __str__(self):
        return f"SMART settings of application {self.application_id}"


class EhrLaunch(models.Model):
    """An opaque `launch` value handed to an app opened from the chart: bound to the user, the app and the patient,
    good for one authorization within a few minutes."""

    token = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+", swappable=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"launch of application {self.application_id} for patient {self.patient_id}"


class ClientAssertionUse(models.Model):
    """The `jti` of each accepted client assertion, kept until it expires: a replayed assertion is refused by the
    unique constraint."""

    jti = models.CharField(max_length=255)
    client_id = models.CharField(max_length=100)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client_id", "jti"], name="fhir_client_assertion_once")
        ]

    def __str__(self):
        return f"{self.client_id} {self.jti}"


class ExportJob(models.Model):
    """A FHIR Bulk Data `$export` (system, Group or Patient level), run by the Celery worker (fhirapi/bulk.py).

    The job belongs to the OAuth client that started it: only a token of that client sees its status and files.
    Files (one NDJSON per resource type) are written through the `fhir_export` storage and deleted at `expires_at`
    (beat task fhirapi.tasks.bulk_export_expire); the row stays, as the record of what was disclosed to whom.
    """

    class Level(models.TextChoices):
        SYSTEM = "system", "System"
        GROUP = "group", "Group"
        PATIENT = "patient", "Patient"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired (files deleted)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    level = models.CharField(max_length=10, choices=Level.choices)
    # A Group is a department (patients.Department): the export includes its patients the client may see.
    group = models.ForeignKey(
        "patients.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    application = models.ForeignKey(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="+", swappable=False
    )
    request_url = models.TextField()
    types = models.JSONField(default=list, help_text="The resource types to export")
    since = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    patients_total = models.PositiveIntegerField(default=0)
    patients_done = models.PositiveIntegerField(default=0)
    patient_ids = models.JSONField(
        default=list, blank=True, help_text="The patients whose data the files hold"
    )
    output = models.JSONField(default=list, blank=True, help_text="[{type, file, count}]")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    transaction_time = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patients_done__lte=models.F("patients_total")), name="export_job_progress"
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="export_job_expiry")]

    def __str__(self):
        return f"$export {self.level} {self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status in (self.Status.DONE, self.Status.EXPIRED):
            return 100
        return round(100 * self.patients_done / self.patients_total) if self.patients_total else 0


class ResourceVersion(models.Model):
    """One version of a resource written through the API (fhirapi/versions.py): the JSON as it was served then.

    Version 1 is the create; each update through the API adds one. A change made in the EHR's own screens is not
    written here at the time: the next API read, update or history of the resource notices the served JSON differs
    from the last version and records it as a version of its own (method "ehr", no actor), so `meta.versionId`,
    `_history` and `If-Match` stay true to what clients saw."""

    CREATE = "create"
    UPDATE = "update"
    EHR = "ehr"

    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=80)
    version = models.PositiveIntegerField()
    resource = models.JSONField(help_text="The resource as served at this version (meta included)")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the resource without meta")
    recorded_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=10)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_kind = models.CharField(max_length=10, blank=True)
    client_id = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "resource_id", "version"], name="resource_version_unique"
            )
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.resource_id}/_history/{self.version}"
