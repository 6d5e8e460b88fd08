from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from auditlog.registry import auditlog
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from accounts import roles
        from audit.subjects import role_labels_register, subject_finder_register, subject_register

        from . import models, privacy_lookup, selectors

        # Audit stands below patients and never imports it: it learns which model its events name from here, how
        # to find a patient by name and date of birth, and the roles' labels.
        subject_register(models.Patient)
        subject_finder_register(privacy_lookup.patients_by_name_and_birth_date)
        role_labels_register({name: spec.label for name, spec in roles.ROLES.items()})
        # The care-team form's list of staff is cached briefly (selectors._care_team_staff): forget it on any change.
        User = get_user_model()
        for sender in (User, Group):
            post_save.connect(
                selectors.care_team_staff_forget, sender=sender, dispatch_uid=f"staff-{sender}-s"
            )
            post_delete.connect(
                selectors.care_team_staff_forget, sender=sender, dispatch_uid=f"staff-{sender}-d"
            )
        m2m_changed.connect(
            selectors.care_team_staff_forget, sender=User.groups.through, dispatch_uid="staff-m2m"
        )

        # Identifiers, contacts (all encrypted at rest) and sexual orientation are masked completely in the write
        # log (audit/masking.py); names and dates stay so that a change can be reviewed.
        auditlog.register(
            models.Patient,
            mask_fields=[
                "ssn",
                "drivers_license",
                "phones",
                "email",
                "addresses",
                "emergency_contacts",
                "sexual_orientation",
            ],
            exclude_fields=["name_search", "ssn_bidx", "drivers_license_bidx", "phone_bidx", "updated_at"],
        )
        # Insurance: the member id is an identifier (masked like the patient's); card photos are named by storage
        # name only, and their reads are access events of their own (patients/coverage.py).
        auditlog.register(models.Coverage, mask_fields=["member_id"])
        auditlog.register(models.Payer)
        for model in (
            models.CareTeamMember,
            models.BreakGlassGrant,
            models.PatientMerge,
            models.DuplicateOverride,
            models.PatientUserObjectPermission,
            models.PatientGroupObjectPermission,
            # Who may act for a patient (actor kinds, core/actors.py): every grant, revocation and binding is logged.
            models.PatientAccount,
            models.ProxyGrant,
            models.ClientBinding,
        ):
            auditlog.register(model)
