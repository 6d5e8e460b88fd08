"""Every role's permissions, in one place. docs/roles.md is generated from it (roles_markdown()).

Two kinds of permission:
- MODEL_PERMISSIONS: global Django permissions given to the role's group (create a patient, see the audit ...);
- PATIENT_PERMISSIONS: object permissions on one Patient, granted when the user (or a group) is put on that
  patient's care team or in the patient's department. They are defined on Patient.Meta.permissions.
"""

from dataclasses import dataclass


class Role:
    CLINICIAN = "clinician"
    NURSE = "nurse"
    FRONT_DESK = "front_desk"
    PRACTICE_ADMIN = "practice_admin"
    PRIVACY_OFFICER = "privacy_officer"


# Object permissions on a patient (codenames on patients.Patient).
VIEW_DEMOGRAPHICS = "view_demographics"
CHANGE_DEMOGRAPHICS = "change_demographics"
VIEW_SCHEDULE = "view_schedule"
MANAGE_SCHEDULE = "manage_schedule"
VIEW_CLINICAL = "view_clinical"
CHANGE_CLINICAL = "change_clinical"
PRESCRIBE = "prescribe"

PATIENT_PERMISSION_LABELS = {
    VIEW_DEMOGRAPHICS: "See the patient's banner and demographics",
    CHANGE_DEMOGRAPHICS: "Change demographics, contacts and identifiers",
    VIEW_SCHEDULE: "See the patient's appointments",
    MANAGE_SCHEDULE: "Book, move and cancel the patient's appointments",
    VIEW_CLINICAL: "Open the chart: encounters, notes, vitals, problems, allergies, medications",
    CHANGE_CLINICAL: "Document: notes, vitals, problems, allergies",
    PRESCRIBE: "Write, sign and cancel prescriptions",
}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    label: str
    model_permissions: tuple[str, ...]
    patient_permissions: tuple[str, ...]
    description: str


ROLES: dict[str, RoleSpec] = {
    Role.CLINICIAN: RoleSpec(
        Role.CLINICIAN,
        "Clinician (prescriber)",
        (
            "patients.add_patient",
            "patients.register_patient",
            "scheduling.view_provider_schedule",
            "orders.resolve_unmatched",
        ),
        (
            VIEW_DEMOGRAPHICS,
            CHANGE_DEMOGRAPHICS,
            VIEW_SCHEDULE,
            MANAGE_SCHEDULE,
            VIEW_CLINICAL,
            CHANGE_CLINICAL,
            PRESCRIBE,
        ),
        "Treats patients on their care team: full chart, documentation and e-prescribing.",
    ),
    Role.NURSE: RoleSpec(
        Role.NURSE,
        "Nurse",
        (
            "patients.add_patient",
            "patients.register_patient",
            "scheduling.view_provider_schedule",
            "orders.resolve_unmatched",
        ),
        (
            VIEW_DEMOGRAPHICS,
            CHANGE_DEMOGRAPHICS,
            VIEW_SCHEDULE,
            MANAGE_SCHEDULE,
            VIEW_CLINICAL,
            CHANGE_CLINICAL,
        ),
        "Rooms patients, records vitals and allergies, documents; cannot prescribe.",
    ),
    Role.FRONT_DESK: RoleSpec(
        Role.FRONT_DESK,
        "Front desk",
        (
            "patients.add_patient",
            "patients.register_patient",
            "patients.merge_patient",
            "scheduling.view_provider_schedule",
            "scheduling.manage_calendar",
        ),
        (VIEW_DEMOGRAPHICS, CHANGE_DEMOGRAPHICS, VIEW_SCHEDULE, MANAGE_SCHEDULE),
        "Registers patients and runs the schedule; never sees clinical content.",
    ),
    Role.PRACTICE_ADMIN: RoleSpec(
        Role.PRACTICE_ADMIN,
        "Practice admin",
        (
            "auth.view_user",
            "auth.add_user",
            "auth.change_user",
            "auth.view_group",
            "accounts.view_practitioner",
            "accounts.add_practitioner",
            "accounts.change_practitioner",
            "patients.view_department",
            "patients.add_department",
            "patients.change_department",
            "scheduling.manage_calendar",
            "scheduling.view_provider_schedule",
            # The clinic's scheduling and documentation reference data, edited in the Django admin.
            *(
                f"scheduling.{verb}_{model}"
                for model in ("location", "room", "appointmenttype", "workinghours", "timeoff")
                for verb in ("view", "add", "change", "delete")
            ),
            *(f"encounters.{verb}_notetemplate" for verb in ("view", "add", "change", "delete")),
            # The units vital signs are typed and read in (one row; the clinic settings page changes it).
            *(f"encounters.{verb}_clinicunits" for verb in ("view", "add", "change")),
            # Who covers a clinician's inbox when items sit too long (not patient data).
            *(f"inbox.{verb}_coverage" for verb in ("view", "add", "change", "delete")),
            # The pharmacy directory and prescribers' SPIs (not patient data).
            *(
                f"prescriptions.{verb}_{model}"
                for model in ("pharmacy", "prescriberspi")
                for verb in ("view", "add", "change", "delete")
            ),
            # Unlock an account after repeated failed sign-ins (the lockout message sends people here) and
            # reset a lost phone (the user enrols again at next sign-in).
            "axes.view_accessattempt",
            "axes.delete_accessattempt",
            "otp_totp.view_totpdevice",
            "otp_totp.delete_totpdevice",
            "otp_static.view_staticdevice",
            "otp_static.delete_staticdevice",
            # Follow the Bulk Data exports the clinic's backend applications start (no patient data).
            "fhirapi.view_exportjob",
        ),
        (),
        "Runs the practice: the clinic settings (locations, rooms, working hours, appointment types, note "
        "templates, units) and, in the Django admin, staff, roles and departments; unlocks accounts and resets "
        "lost authenticator apps.",
    ),
    Role.PRIVACY_OFFICER: RoleSpec(
        Role.PRIVACY_OFFICER,
        "Privacy officer",
        ("audit.view_accessevent", "audit.view_reports"),
        (),
        "Reads the audit trail and break-the-glass reports; never opens charts.",
    ),
}


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._role_names = cached
    return cached


def role_grants(user, perm: str) -> bool:
    """Whether the user's roles grant the model permission `perm` ("app.codename"; superusers: every one), from the
    roles already loaded: for showing a link or a button without the two permission queries of
    `user.has_perm`. The view behind the link still checks `has_perm`."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or any(
        perm in ROLES[r].model_permissions for r in user_roles(user) if r in ROLES
    )


def patient_permissions_for_roles(roles) -> set[str]:
    perms: set[str] = set()
    for r in roles:
        if r in ROLES:
            perms.update(ROLES[r].patient_permissions)
    return perms


def mfa_required(user) -> bool:
    from django.conf import settings

    return bool(user_roles(user) & set(settings.MFA_REQUIRED_ROLES)) or user.is_superuser


# Separation of duties: a practice admin staffs the clinic but cannot make anyone (themselves included) a practice
# admin or a privacy officer, the role that audits them; only a superuser assigns those.
ROLES_A_PRACTICE_ADMIN_ASSIGNS = (Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK)


def admin_site_allowed(user) -> bool:
    """Who may open the Django admin (still behind a verified second factor): the role decides, not is_staff."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or Role.PRACTICE_ADMIN in user_roles(user)


def roles_markdown() -> str:
    """docs/roles.md, written from the tables above (`manage.py roles_doc`); a test keeps the file in step."""
    from django.conf import settings

    lines = [
        "# Roles and permissions",
        "",
        "<!-- Generated from accounts/roles.py by `python3 dev.py manage roles_doc`; do not edit by hand. -->",
        "",
        "Each role is a Django group created by the migration `accounts/0002_roles` and brought back in line",
        "with `accounts/roles.py` after every `migrate` (`accounts.services.roles_sync`). A user may hold",
        "several roles. Two kinds of permission:",
        "",
        "- **Model permissions** are global Django permissions held by the role's group.",
        "- **Patient permissions** are object permissions on one patient. The role only says which ones a member",
        "  *can* receive; they are granted when the user is put on the patient's care team or in the patient's",
        "  department, and every use is recorded in the audit trail.",
        "",
        "A second factor (TOTP authenticator app) is required by default for: "
        + ", ".join(f"`{r}`" for r in settings.MFA_REQUIRED_ROLES)
        + " (setting `MFA_REQUIRED_ROLES`). Other roles may enrol voluntarily.",
        "",
        "The Django admin (`/admin/`) opens for practice admins and superusers only, always with a verified second",
        "factor; the *staff status* flag plays no part. In the admin a practice admin assigns the roles "
        + ", ".join(f"`{r}`" for r in ROLES_A_PRACTICE_ADMIN_ASSIGNS)
        + "; only a",
        "superuser makes someone a practice admin or a privacy officer, and nobody but a superuser changes their own",
        "roles. A practice admin never sets or sees another person's password or authenticator secret: they send a",
        "password-reset email (the user chooses the password) and may delete a lost authenticator (the user enrols",
        "again at next sign-in).",
        "",
        "## Patient permissions",
        "",
        "| Codename | Allows |",
        "|---|---|",
    ]
    lines += [f"| `{code}` | {label} |" for code, label in PATIENT_PERMISSION_LABELS.items()]
    for spec in ROLES.values():
        lines += ["", f"## {spec.label} (`{spec.name}`)", "", spec.description, "", "Model permissions:", ""]
        lines += [f"- `{p}`" for p in spec.model_permissions] or ["- none"]
        lines += [
            "",
            "Patient permissions (on patients whose care team or department includes the user):",
            "",
        ]
        lines += [f"- `{p}`: {PATIENT_PERMISSION_LABELS[p]}" for p in spec.patient_permissions] or ["- none"]
    return "\n".join(lines) + "\n"
