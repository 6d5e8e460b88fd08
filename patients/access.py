"""The one door's lock: which object permissions a user holds on a patient, and the queryset of visible patients.

Effective permissions on a patient =
    (care-team grants [guardian direct-FK rows, user and group] | department grants | active break-the-glass)
    & the permissions of the user's roles (accounts/roles.py).
The intersection is the safety net: a front-desk user put on a care team by mistake still never sees clinical
content, and a privacy officer never opens a chart.

Only selectors and services call this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import BooleanField, Expression, F, QuerySet
from django.utils import timezone

from accounts import roles
from core.actors import PATIENT, PROXY, STAFF, SYSTEM, Actor, as_actor

from .models import PORTAL_PERMISSIONS, Department, Patient

# What membership of a patient's department gives (still intersected with the user's roles).
DEPARTMENT_PERMISSIONS = frozenset(
    {roles.VIEW_DEMOGRAPHICS, roles.CHANGE_DEMOGRAPHICS, roles.VIEW_SCHEDULE, roles.MANAGE_SCHEDULE}
)

# ---------------------------------------------------------------------------------------------------------------
# The one rule: who may see a patient (staff). Every form the door uses is built from these four sources, each
# written once as an SQL fragment about (viewer, patient row): {patient} and {department} name the row's patient id
# and department id (a parameter, or a column of the row being read); %({p}user)s and %({p}now)s are the viewer
# and the time (named parameters, prefixed so a statement written out can carry its own). What each source gives:
#   a care-team grant (user or group)     the permissions granted
#   membership of the patient's department DEPARTMENT_PERMISSIONS
#   an active break-the-glass grant        every permission of the viewer's roles
# all intersected with the permissions of the viewer's roles (_access, visible_rule). Merged aliases are visible to
# nobody in lists; the door's read of one patient follows the alias elsewhere (patients.selectors).
# The forms: the permission set of one patient (patient_access_for, patient_fetch: _access_columns), a boolean on a
# row for one permission (visible_condition: the calendar's statement; visible_patients: the ORM, through
# _VisibleTo). tests/patients/test_visibility_rule.py holds all of them to one answer over random grant graphs.
_USER_GRANTS = """FROM patients_patientuserobjectpermission ugr
     WHERE ugr.user_id = %({p}user)s AND ugr.content_object_id = {patient}"""
_GROUP_GRANTS = """FROM patients_patientgroupobjectpermission ggr
      JOIN auth_user_groups gm ON gm.group_id = ggr.group_id AND gm.user_id = %({p}user)s
     WHERE ggr.content_object_id = {patient}"""
_IN_DEPARTMENT = """({department} IS NOT NULL AND {department} IN (
      SELECT dm.department_id FROM patients_department_members dm WHERE dm.user_id = %({p}user)s))"""
_GLASS = """EXISTS (SELECT 1 FROM patients_breakglassgrant bg
     WHERE bg.user_id = %({p}user)s AND bg.patient_id = {patient} AND bg.expires_at > %({p}now)s)"""
# One permission's id, computed once per statement (an InitPlan): the planner then probes the viewer's grants per
# candidate row instead of hashing all of them (docs/benchmark.md: 138 -> 31 ms for "eric").
_PERM_ID = """(SELECT ap.id FROM auth_permission ap JOIN django_content_type ct ON ct.id = ap.content_type_id
      WHERE ct.app_label = 'patients' AND ct.model = 'patient' AND ap.codename = %({p}perm)s)"""


def _fragments(*, patient: str, department: str, p: str) -> dict[str, str]:
    cols = {"patient": patient, "department": department, "p": p}
    return {
        "user": _USER_GRANTS.format(**cols),
        "group": _GROUP_GRANTS.format(**cols),
        "department": _IN_DEPARTMENT.format(**cols),
        "glass": _GLASS.format(**cols),
        "perm_id": _PERM_ID.format(p=p),
    }


def _access_columns(*, patient: str, department: str) -> str:
    """The rule as three columns about one patient, read by _access: the codenames granted by care teams, whether
    the viewer is in the patient's department, whether a break-the-glass grant is active."""
    f = _fragments(patient=patient, department=department, p="")
    return f"""
  ARRAY(SELECT ap.codename FROM auth_permission ap WHERE ap.id IN (
      SELECT ugr.permission_id {f["user"]}
      UNION ALL
      SELECT ggr.permission_id {f["group"]})) AS _granted,
  {f["department"]} AS _in_department,
  {f["glass"]} AS _glass"""  # noqa: S608 (constant fragments; every value is a parameter)


def _visible_sql(*, perm: str, patient: str, department: str, merged: str, p: str) -> str:
    """The rule as a boolean on one row, for one permission the viewer's roles hold (the caller checks that)."""
    f = _fragments(patient=patient, department=department, p=p)
    sources = [
        f"EXISTS (SELECT 1 {f['user']} AND ugr.permission_id = {f['perm_id']})",
        f"EXISTS (SELECT 1 {f['group']} AND ggr.permission_id = {f['perm_id']})",
        f["glass"],
    ]
    if perm in DEPARTMENT_PERMISSIONS:
        sources.append(f["department"])
    return f"({merged} IS NULL AND (" + "\n  OR ".join(sources) + "))"


def _viewer_holds(user, perm: str | None = None) -> bool:
    """The roles' side of the rule: an active signed-in user whose roles can hold `perm` (any patient permission,
    or practice admin, when perm is None)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    user_roles = roles.user_roles(user)
    if perm is None:
        return (
            bool(roles.patient_permissions_for_roles(user_roles)) or roles.Role.PRACTICE_ADMIN in user_roles
        )
    return perm in roles.patient_permissions_for_roles(user_roles)


_PERMS_SQL = "SELECT" + _access_columns(  # noqa: S608 (constant fragments; every value is a parameter)
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


def patient_access_for(actor, patient_id) -> PatientAccess:
    """What `actor` (a user: staff; or a core.actors.Actor of any kind) may do on the patient."""
    a = as_actor(actor)
    if a.kind in (PATIENT, PROXY):
        return _portal_access(a, patient_id)
    access = _staff_access(a.user, patient_id)
    return _system_narrowed(a, patient_id, access) if a.kind == SYSTEM else access


def _staff_access(user, patient_id) -> PatientAccess:
    """One round trip: grants, department membership and break-the-glass for (user, patient)."""
    if not _viewer_holds(user):
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
    + _access_columns(patient="pt.id", department="pt.department_id")
    + """,
  ARRAY(SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
         WHERE ug.user_id = %(user)s AND g.name = ANY(%(roles)s)) AS _roles
  FROM patients_patient pt LEFT JOIN patients_department d ON d.id = pt.department_id
 WHERE pt.id = %(patient)s"""
)


def patient_fetch(actor, patient_id) -> tuple[Patient | None, PatientAccess]:
    """The patient (with its department) and what `user` may do on it, in one round trip: the door's read of a
    chart. The same questions as patient_access_for (grants, department, break-the-glass), asked about the row
    being read, plus the user's role names when they are not loaded yet.

    (None, NO_ACCESS) when the patient does not exist or the user's roles can hold no patient permission. The
    caller must still check `access.has(perm)`: the row is read whatever the grants, and handed out only once the
    permission is there (patients.selectors.patient_get). Actors other than staff: their rule, then the row."""
    a = as_actor(actor)
    if a.kind != STAFF:
        access = patient_access_for(a, patient_id)
        patient = (
            Patient.objects.select_related("department").filter(pk=patient_id).first()
            if access.perms
            else None
        )
        return (patient, access) if patient is not None else (None, NO_ACCESS)
    user = a.user
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None, NO_ACCESS
    known_roles = getattr(user, "_role_names", None)
    if known_roles is not None and not _viewer_holds(user):
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
        if not _viewer_holds(user):
            return None, NO_ACCESS
    return patient, _access(roles.user_roles(user), patient._granted, patient._in_department, patient._glass)


# ---------------------------------------------------------------------------------------------------------------
# The other kinds' rules (core/actors.py), each written once, as SQL about one patient row, used by every form.
# A patient or a proxy reaches only the patient they act for: their own record (PORTAL_PERMISSIONS), or one an
# active proxy grant covers (its scope; from starts_at, until expires_at, unless revoked), checked at every access.
_PORTAL_RULE = """({patient} = %({p}represented)s AND (
    ({patient} = %({p}own)s AND {perm} = ANY(%({p}portal)s))
    OR EXISTS (SELECT 1 FROM patients_proxygrant pxg
                WHERE pxg.user_id = %({p}user)s AND pxg.patient_id = {patient} AND {perm} = ANY(pxg.scope)
                  AND pxg.revoked_at IS NULL AND pxg.starts_at <= %({p}now)s AND pxg.expires_at > %({p}now)s)))"""
# A system client reaches what its service account may (the staff rule), within its scopes, and only the patient
# or the group's patients it is bound to.
_BOUND_PATIENT = "{patient} = %({p}bound_patient)s"
_BOUND_GROUP = """EXISTS (SELECT 1 FROM patients_patientgroupobjectpermission bgg
     WHERE bgg.group_id = %({p}bound_group)s AND bgg.content_object_id = {patient})"""


def _portal_params(a: Actor, p: str, now) -> dict:
    own = a.own_patient_id
    return {
        f"{p}represented": str(a.represented_patient_id),
        f"{p}own": str(own) if own else None,
        f"{p}portal": list(PORTAL_PERMISSIONS),
        f"{p}user": a.pk,
        f"{p}now": now,
    }


def _binding(a: Actor, *, patient: str, p: str) -> tuple[str, dict] | None:
    if a.bound_patient_id is not None:
        return _BOUND_PATIENT.format(patient=patient, p=p), {f"{p}bound_patient": str(a.bound_patient_id)}
    if a.bound_group_id is not None:
        return _BOUND_GROUP.format(patient=patient, p=p), {f"{p}bound_group": a.bound_group_id}
    return None


def _condition(actor, perm: str, *, patient: str, department: str, merged: str, p: str, now):
    """The boolean form for any kind of actor: (SQL, named parameters), or None for "nobody"."""
    a = as_actor(actor)
    if a.kind in (PATIENT, PROXY):
        if not a.is_active or a.represented_patient_id is None:
            return None
        rule = _PORTAL_RULE.format(patient=patient, perm=f"%({p}perm)s", p=p)
        return f"({merged} IS NULL AND {rule})", {**_portal_params(a, p, now), f"{p}perm": perm}
    if not _viewer_holds(a.user, perm):
        return None
    if a.kind == SYSTEM and a.scope_perms is not None and perm not in a.scope_perms:
        return None
    sql = _visible_sql(perm=perm, patient=patient, department=department, merged=merged, p=p)
    named = {f"{p}user": a.pk, f"{p}perm": perm, f"{p}now": now}
    bound = _binding(a, patient=patient, p=p) if a.kind == SYSTEM else None
    if bound:
        sql = f"({sql} AND {bound[0]})"
        named.update(bound[1])
    return sql, named


def _portal_access(a: Actor, patient_id) -> PatientAccess:
    """The portal rule as the permission set of one patient: the portal permissions for which it holds."""
    if not a.is_active or a.represented_patient_id is None:
        return NO_ACCESS
    rule = _PORTAL_RULE.format(patient="%(patient)s", perm="pp", p="")
    sql = f"SELECT ARRAY(SELECT pp FROM unnest(%(portal)s::text[]) AS pp WHERE {rule})"  # noqa: S608 (constants)
    with connection.cursor() as cur:
        cur.execute(sql, {**_portal_params(a, "", timezone.now()), "patient": str(patient_id)})
        perms = cur.fetchone()[0]
    return PatientAccess(perms=frozenset(perms or ()))


def _system_narrowed(a: Actor, patient_id, access: PatientAccess) -> PatientAccess:
    """A system client's access to one patient: its account's, within its scopes and its binding."""
    perms = access.perms if a.scope_perms is None else access.perms & a.scope_perms
    bound = _binding(a, patient="%(patient)s", p="")
    if perms and bound:
        with connection.cursor() as cur:
            cur.execute(f"SELECT {bound[0]}", {**bound[1], "patient": str(patient_id)})  # noqa: S608 (constants)
            if not cur.fetchone()[0]:
                return NO_ACCESS
    return PatientAccess(perms=perms, break_glass=access.break_glass and bool(perms))


def visible_condition(actor, perm: str, *, patient: str, department: str, merged: str) -> tuple[str, dict]:
    """visible_patients(actor, perm) as an SQL boolean on a row of a hand-written statement (the calendar's:
    hundreds of rows, each labelled with a name or "Busy", in one round trip): `patient`, `department` and `merged`
    name the row's patient id, department id and merged_into id columns. Returns the condition and its named
    parameters (all prefixed visible_)."""
    found = _condition(
        actor, perm, patient=patient, department=department, merged=merged, p="visible_", now=timezone.now()
    )
    return found if found is not None else ("FALSE", {})


_NAMED = re.compile(r"%\((\w+)\)s")


class _VisibleTo(Expression):
    """visible_condition as an ORM condition on a Patient queryset: the same SQL, its columns resolved by the
    query (so it stays right when the queryset is relabelled as a subquery)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, actor: Actor, perm: str, now, columns=None):
        super().__init__()
        self.actor, self.perm, self.now = actor, perm, now
        self.columns = columns or [F("pk"), F("department_id"), F("merged_into_id")]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, exprs):
        self.columns = list(exprs)

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        clone.columns = [
            c.resolve_expression(query, allow_joins, reuse, summarize, for_save) for c in self.columns
        ]
        return clone

    def as_sql(self, compiler, connection):
        patient, department, merged = (compiler.compile(c)[0] for c in self.columns)
        cols = {"patient": patient, "department": department, "merged": merged}
        sql, named = _condition(self.actor, self.perm, **cols, p="", now=self.now) or ("FALSE", {})
        params = [named[m.group(1)] for m in _NAMED.finditer(sql)]
        return _NAMED.sub("%s", sql), params


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


def visible_patients(actor, perm: str = roles.VIEW_DEMOGRAPHICS) -> QuerySet[Patient]:
    """Patients on which `actor` (a user: staff; or an Actor of any kind) holds `perm`: for lists and search.
    Merged aliases are left out."""
    a = as_actor(actor)
    qs = Patient.objects.all()
    if a.kind in (STAFF, SYSTEM) and not _viewer_holds(a.user, perm):
        return qs.filter(merged_into__isnull=True).none()
    return qs.filter(_VisibleTo(a, perm, timezone.now()))
