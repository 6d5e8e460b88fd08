from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from auditlog.registry import auditlog

        from .models import BreakGlassGrant, CareTeamMember, Patient, PatientMerge

        # PHI identifiers and contacts are masked in the write log; names stay so that a change can be reviewed.
        auditlog.register(
            Patient,
            mask_fields=["ssn", "drivers_license", "phones", "email", "addresses", "emergency_contacts"],
            exclude_fields=["name_search", "ssn_bidx", "phone_bidx", "updated_at"],
        )
        auditlog.register(CareTeamMember)
        auditlog.register(BreakGlassGrant)
        auditlog.register(PatientMerge)
