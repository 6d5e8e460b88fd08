from django.apps import AppConfig


class FhirApiConfig(AppConfig):
    name = "fhirapi"
    verbose_name = "FHIR R4 API"

    def ready(self):
        from auditlog.registry import auditlog

        from . import models

        # Patient-linked bookkeeping: launch contexts and grants of SMART apps (standalone and EHR launch), where
        # imported rows came from, and resources kept as received.
        for model in (
            models.PatientLaunchContext,
            models.LaunchGrant,
            models.ImportedRecord,
            models.KeptResource,
            models.EhrLaunch,
            models.ResourceVersion,
        ):
            auditlog.register(model)
