"""The one door's lock: which object permissions a user holds on a patient, and the queryset of visible patients.

Effective permissions on a patient =
    (care-team grants [guardian direct-FK rows, user and group] | department grants | active break-the-glass)
    & the permissions of the user's roles (accounts/roles.py).
The intersection is the safety net: a front-desk user put on a care team by mistake still never sees clinical
content, and a privacy officer never opens a chart.

Only selectors and services call this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts import roles

from .models import (
    BreakGlassGrant,
    Department,
    Patient,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
)

# What membership of a patient's department gives (still intersected with the user's roles).
DEPARTMENT_PERMISSIONS = frozenset(
    {roles.VIEW_DEMOGRAPHICS, roles.CHANGE_DEMOGRAPHICS, roles.VIEW_SCHEDULE, roles.MANAGE_SCHEDULE}
)

# The questions the door asks about (user, patient): care-team grants (user and group), department membership,
# an active break-the-glass grant. {patient} is the patient's id: a parameter, or a column of the row being read.
_GRANTS_SQL = """
  ARRAY(
    SELECT p.codename FROM patients_patientuserobjectpermission u
      JOIN auth_permission p ON p.id = u.permission_id
     WHERE u.user_id = %(user)s AND u.content_object_id = {patient}
    UNION
    SELECT p.codename FROM patients_patientgroupobjectpermission g
      JOIN auth_permission p ON p.id = g.permission_id
      JOIN auth_user_groups ug ON ug.group_id = g.group_id
     WHERE ug.user_id = %(user)s AND g.content_object_id = {patient}
  ) AS _granted,
  EXISTS (SELECT 1 FROM patients_department_members m
           WHERE m.department_id = {department} AND m.user_id = %(user)s) AS _in_department,
  EXISTS (SELECT 1 FROM patients_breakglassgrant b
           WHERE b.user_id = %(user)s AND b.patient_id = {patient} AND b.expires_at > %(now)s) AS _glass"""

_PERMS_SQL = "SELECT" + _GRANTS_SQL.format(  # noqa: S608 (constant fragments; every value is a parameter)
    patient="%(patient)s", department="(SELECT department_id FROM patients_patient WHERE id = %(patient)s)"
)


@dataclass(frozen=True)
class PatientAccess:
    perms: frozenset[str] = field(default_factory=frozenset)
    break_glass: bool = False
    # A practice admin of the patient's department: administers the care team (who may see the chart) without
    # holding any permission on the patient's data (accounts/roles.py gives the role none).
    administers: bool = False

    def has(self, perm: str) -> bool:
        return perm in self.perms

    # Template-friendly flags
    @property
    def clinical(self) -> bool:
        return roles.VIEW_CLINICAL in self.perms

    @property
    def can_document(self) -> bool:
        return roles.CHANGE_CLINICAL in self.perms

    @property
    def can_prescribe(self) -> bool:
        return roles.PRESCRIBE in self.perms

    @property
    def can_edit_demographics(self) -> bool:
        return roles.CHANGE_DEMOGRAPHICS in self.perms

    @property
    def schedule(self) -> bool:
        return roles.VIEW_SCHEDULE in self.perms

    @property
    def can_schedule(self) -> bool:
        return roles.MANAGE_SCHEDULE in self.perms

    @property
    def can_manage_care_team(self) -> bool:
        return roles.CHANGE_DEMOGRAPHICS in self.perms or self.administers


NO_ACCESS = PatientAccess()


def grants_clinical_access(user=None, group=None) -> bool:
    """Whether putting this member on a care team opens the chart to them: a user whose roles include clinical
    permissions, or any group (a group receives every patient permission; see services.care_team_grant)."""
    if group is not None:
        return True
    return roles.VIEW_CLINICAL in roles.patient_permissions_for_roles(roles.user_roles(user))


def may_grant_clinical_access(user, access: PatientAccess) -> bool:
    """Design rule: only a clinician who treats the patient, or a practice admin of the patient's department, may
    add or remove a member who gets clinical access. Front desk (and nurses) may manage non-clinical members only,
    so registering or scheduling a patient never hands out the chart."""
    return (roles.Role.CLINICIAN in roles.user_roles(user) and access.clinical) or access.administers


def _access(user_roles: set[str], granted_list, in_department: bool, glass: bool) -> PatientAccess:
    """Effective access from what the permission query found (see the module docstring)."""
    role_perms = roles.patient_permissions_for_roles(user_roles)
    admin = roles.Role.PRACTICE_ADMIN in user_roles
    granted = set(granted_list or ())
    if in_department:
        granted |= DEPARTMENT_PERMISSIONS
    if glass:
        granted |= role_perms
    effective = frozenset(granted & role_perms)
    # break_glass is reported only when the emergency grant is what opens the chart.
    normal = frozenset(
        (set(granted_list or ()) | (DEPARTMENT_PERMISSIONS if in_department else set())) & role_perms
    )
    return PatientAccess(
        perms=effective,
        break_glass=bool(glass) and effective != normal,
        administers=admin and bool(in_department),
    )


def _may_hold_access(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    user_roles = roles.user_roles(user)
    return bool(roles.patient_permissions_for_roles(user_roles)) or roles.Role.PRACTICE_ADMIN in user_roles


def patient_access_for(user, patient_id) -> PatientAccess:
    """One round trip: grants, department membership and break-the-glass for (user, patient)."""
    if not _may_hold_access(user):
        return NO_ACCESS
    with connection.cursor() as cur:
        cur.execute(_PERMS_SQL, {"user": user.pk, "patient": str(patient_id), "now": timezone.now()})
        granted_list, in_department, glass = cur.fetchone()
    return _access(roles.user_roles(user), granted_list, in_department, glass)


# The door's read of a chart: the patient row, its department's name and the questions of _PERMS_SQL, in one round
# trip. Written out rather than built with the ORM: it runs on every chart page, and composing four subqueries
# cost ~3 ms of Python per page (docs/benchmark.md); Patient.objects.raw still applies the encrypted fields'
# converters.
_FETCH_SQL = (
    "SELECT pt.*, d.name AS _department_name,"  # noqa: S608 (constant fragments; every value is a parameter)
    + _GRANTS_SQL.format(patient="pt.id", department="pt.department_id")
    + """,
  ARRAY(SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
         WHERE ug.user_id = %(user)s AND g.name = ANY(%(roles)s)) AS _roles
  FROM patients_patient pt LEFT JOIN patients_department d ON d.id = pt.department_id
 WHERE pt.id = %(patient)s"""
)


def patient_fetch(user, patient_id) -> tuple[Patient | None, PatientAccess]:
    """The patient (with its department) and what `user` may do on it, in one round trip: the door's read of a
    chart. The same questions as patient_access_for (grants, department, break-the-glass), asked about the row
    being read, plus the user's role names when they are not loaded yet.

    (None, NO_ACCESS) when the patient does not exist or the user's roles can hold no patient permission. The
    caller must still check `access.has(perm)`: the row is read whatever the grants, and handed out only once the
    permission is there (patients.selectors.patient_get)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None, NO_ACCESS
    known_roles = getattr(user, "_role_names", None)
    if known_roles is not None and not _may_hold_access(user):
        return None, NO_ACCESS
    params = {"user": user.pk, "patient": str(patient_id), "now": timezone.now(), "roles": list(roles.ROLES)}
    patient = next(iter(Patient.objects.raw(_FETCH_SQL, params)), None)
    if patient is None:
        return None, NO_ACCESS
    patient._state.fields_cache["department"] = (
        Department.from_db(None, ["id", "name"], [patient.department_id, patient._department_name])
        if patient.department_id is not None
        else None
    )
    if known_roles is None:
        user._role_names = set(
            patient._roles or ()
        )  # roles.user_roles' cache: the rest of the request reuses it
        if not _may_hold_access(user):
            return None, NO_ACCESS
    return patient, _access(roles.user_roles(user), patient._granted, patient._in_department, patient._glass)


# visible_patients as a condition on one row's patient, for a statement written out (the calendar's: hundreds of
# rows, each labelled with a name or "Busy", in one round trip). The same questions, asked the same way: a care-team
# grant of the permission (user or group), an active break-the-glass grant, membership of the patient's department
# where it gives the permission; merged aliases never. tests/encounters/test_calendar_access.py holds both to the
# same answers.
_VISIBLE_SQL = """({merged} IS NULL AND (
    EXISTS (SELECT 1 FROM patients_patientuserobjectpermission u
             WHERE u.content_object_id = {patient} AND u.user_id = %(visible_user)s
               AND u.permission_id = (SELECT id FROM auth_permission WHERE codename = %(visible_perm)s
                                        AND content_type_id = %(visible_ct)s))
 OR EXISTS (SELECT 1 FROM patients_patientgroupobjectpermission g
              JOIN auth_user_groups ug ON ug.group_id = g.group_id AND ug.user_id = %(visible_user)s
             WHERE g.content_object_id = {patient}
               AND g.permission_id = (SELECT id FROM auth_permission WHERE codename = %(visible_perm)s
                                        AND content_type_id = %(visible_ct)s))
 OR EXISTS (SELECT 1 FROM patients_breakglassgrant b
             WHERE b.patient_id = {patient} AND b.user_id = %(visible_user)s AND b.expires_at > %(visible_now)s)
 {department}))"""
_VISIBLE_DEPARTMENT_SQL = """OR EXISTS (SELECT 1 FROM patients_department_members m
             WHERE m.department_id = {department} AND m.user_id = %(visible_user)s)"""


def visible_condition(user, perm: str, *, patient: str, department: str, merged: str) -> tuple[str, dict]:
    """visible_patients(user, perm) as an SQL boolean on a row of a hand-written statement: `patient`,
    `department` and `merged` name the row's patient id, department id and merged_into id columns. Returns the
    condition and its named parameters (all prefixed visible_)."""
    if (
        not getattr(user, "is_authenticated", False)
        or not user.is_active
        or perm not in roles.patient_permissions_for_roles(roles.user_roles(user))
    ):
        return "FALSE", {}
    from django.contrib.contenttypes.models import ContentType

    dept = _VISIBLE_DEPARTMENT_SQL.format(department=department) if perm in DEPARTMENT_PERMISSIONS else ""
    sql = _VISIBLE_SQL.format(merged=merged, patient=patient, department=dept)
    params = {
        "visible_user": user.pk,
        "visible_perm": perm,
        "visible_ct": ContentType.objects.get_for_model(Patient).pk,  # cached by ContentTypeManager
        "visible_now": timezone.now(),
    }
    return sql, params


def administered_patients(user) -> QuerySet[Patient]:
    """Patients of the departments a practice admin belongs to (care-team administration in the admin site).
    Merged aliases are left out. Everyone else: none."""
    qs = Patient.objects.filter(merged_into__isnull=True)
    if not (
        getattr(user, "is_authenticated", False)
        and user.is_active
        and roles.Role.PRACTICE_ADMIN in roles.user_roles(user)
    ):
        return qs.none()
    return qs.filter(department__in=Department.objects.filter(members=user.pk))


def visible_patients(user, perm: str = roles.VIEW_DEMOGRAPHICS) -> QuerySet[Patient]:
    """Patients on which `user` holds `perm`: for lists and search. Merged aliases are left out."""
    qs = Patient.objects.filter(merged_into__isnull=True)
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if perm not in roles.patient_permissions_for_roles(roles.user_roles(user)):
        return qs.none()
    # The permission's id as a scalar subquery (one InitPlan), not a join on its codename: the planner then knows
    # how many grants the user holds (a clinician: 100k on a network of 1M) and probes them per candidate instead
    # of hashing all of them for every search (patients/selectors.py; docs/benchmark.md: 138 -> 31 ms for "eric").
    perm_id = Subquery(
        Permission.objects.filter(
            content_type__app_label="patients", content_type__model="patient", codename=perm
        ).values("pk")
    )
    user_grant = PatientUserObjectPermission.objects.filter(
        content_object_id=OuterRef("pk"), user_id=user.pk, permission_id=perm_id
    )
    group_grant = PatientGroupObjectPermission.objects.filter(
        content_object_id=OuterRef("pk"), group__user=user.pk, permission_id=perm_id
    )
    glass = BreakGlassGrant.objects.filter(
        patient_id=OuterRef("pk"), user_id=user.pk, expires_at__gt=timezone.now()
    )
    cond = Exists(user_grant) | Exists(group_grant) | Exists(glass)
    if perm in DEPARTMENT_PERMISSIONS:
        cond |= Q(department__in=Department.objects.filter(members=user.pk))
    return qs.filter(cond)
