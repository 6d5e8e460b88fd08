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
