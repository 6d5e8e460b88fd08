from django.db import models
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

    class Meta:
        permissions = [("import_bundle", "Can import FHIR bundles")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "resource_type", "source_id"], name="imported_record_unique"
            )
        ]
        indexes = [models.Index(fields=["target_model", "target_id"], name="imported_record_target")]

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
