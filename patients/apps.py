from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from auditlog.registry import auditlog

        from . import models

        # Identifiers, contacts (all encrypted at rest) and sexual orientation are masked completely in the write
        # log (audit/masking.py); names and dates stay so that a change can be reviewed.
        auditlog.register(
            models.Patient,
            mask_fields=["ssn", "drivers_license", "phones", "email", "addresses", "emergency_contacts",
                         "sexual_orientation"],
            exclude_fields=["name_search", "ssn_bidx", "drivers_license_bidx", "phone_bidx", "updated_at"],
        )
        for model in (models.CareTeamMember, models.BreakGlassGrant, models.PatientMerge, models.DuplicateOverride,
                      models.PatientUserObjectPermission, models.PatientGroupObjectPermission):
            auditlog.register(model)
