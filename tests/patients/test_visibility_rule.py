"""One rule, every form: who may see a patient (patients/access.py).

The door asks the rule in four shapes: the permission set of one patient (patient_access_for, and patient_fetch, the
chart's one round trip), a boolean on a row of a hand-written statement (visible_condition, the calendar's) and a
queryset (visible_patients, lists and search). Hypothesis draws random grant graphs (user and group care-team grants,
department memberships, active and expired break-the-glass, merged aliases) over users of every role (a user with
no clinical role, a practice admin, a privacy officer, a superuser without roles, an inactive clinician, a user with
two roles) and holds every form, and a plain Python reading of the rule, to the same answer for every user x patient
x permission. Each example's rows are created inside a savepoint and rolled back.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import roles
from accounts.roles import Role
from patients.access import (
    DEPARTMENT_PERMISSIONS,
    patient_access_for,
    patient_fetch,
    visible_condition,
    visible_patients,
)
from patients.models import (
    BreakGlassGrant,
    Patient,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
)
from tests.factories import DepartmentFactory, UserFactory, make_patient

PERMS = list(roles.PATIENT_PERMISSION_LABELS)
# The boolean forms are asked per permission: two that departments give, two they do not (prescribe: clinicians only).
ASKED = [roles.VIEW_DEMOGRAPHICS, roles.MANAGE_SCHEDULE, roles.VIEW_CLINICAL, roles.PRESCRIBE]
# Persona -> (roles, flags). Kept small: every example checks each of them against every patient and permission.
PERSONAS = {
    "clinician": ([Role.CLINICIAN], {}),
    "clinician2": ([Role.CLINICIAN], {}),
    "nurse_desk": ([Role.NURSE, Role.FRONT_DESK], {}),
    "front_desk": ([Role.FRONT_DESK], {}),
    "practice_admin": ([Role.PRACTICE_ADMIN], {}),
    "privacy": ([Role.PRIVACY_OFFICER], {}),
    "superuser": ([], {"is_superuser": True, "is_staff": True}),
    "no_role": ([], {}),
    "inactive": ([Role.CLINICIAN], {"is_active": False}),
}


@pytest.fixture
def world(db):
    users = {
        name: UserFactory(username=f"vis.{name}", roles=role_list, **flags)
        for name, (role_list, flags) in PERSONAS.items()
    }
    perms = {
        p.codename: p
        for p in Permission.objects.filter(content_type__app_label="patients", codename__in=PERMS)
    }
    return {
        "users": users,
        "groups": [Group.objects.create(name=f"Team {i}") for i in range(2)],
        "departments": [DepartmentFactory(name=f"Vis dept {i}") for i in range(2)],
        "perms": perms,
    }


def _graph(data, world):
    """Draw a grant graph over the world's users, groups and departments."""
    names = list(world["users"])
    n_patients = data.draw(st.integers(1, 4), label="patients")
    depts = data.draw(
        st.lists(st.sampled_from([None, 0, 1]), min_size=n_patients, max_size=n_patients), label="depts"
    )
    # An alias points at an earlier patient that is not itself an alias.
    merged = [None]
    for i in range(1, n_patients):
        target = data.draw(st.one_of(st.none(), st.integers(0, i - 1)), label=f"merged{i}")
        merged.append(target if target is not None and merged[target] is None else None)
    pair = st.tuples(st.sampled_from(names), st.integers(0, n_patients - 1))
    return {
        "depts": depts,
        "merged": merged,
        "members": data.draw(st.sets(st.tuples(st.sampled_from(names), st.integers(0, 1))), label="members"),
        "in_groups": data.draw(
            st.sets(st.tuples(st.sampled_from(names), st.integers(0, 1))), label="in_groups"
        ),
        "user_grants": data.draw(
            st.sets(
                st.tuples(st.sampled_from(names), st.integers(0, n_patients - 1), st.sampled_from(PERMS))
            ),
            label="user_grants",
        ),
        "group_grants": data.draw(
            st.sets(st.tuples(st.integers(0, 1), st.integers(0, n_patients - 1), st.sampled_from(PERMS))),
            label="group_grants",
        ),
        "glass": data.draw(st.dictionaries(pair, st.booleans(), max_size=4), label="glass (active?)"),
    }


def _build(graph, world):
    users, groups, departments, perms = world["users"], world["groups"], world["departments"], world["perms"]
    patients = [
        make_patient(given_name=f"P{i}", department=None if d is None else departments[d])
        for i, d in enumerate(graph["depts"])
    ]
    for i, target in enumerate(graph["merged"]):
        if target is not None:
            Patient.objects.filter(pk=patients[i].pk).update(merged_into=patients[target])
    for name, d in graph["members"]:
        departments[d].members.add(users[name])
    for name, g in graph["in_groups"]:
        users[name].groups.add(groups[g])
    PatientUserObjectPermission.objects.bulk_create(
        PatientUserObjectPermission(user=users[n], content_object=patients[i], permission=perms[p])
        for n, i, p in graph["user_grants"]
    )
    PatientGroupObjectPermission.objects.bulk_create(
        PatientGroupObjectPermission(group=groups[g], content_object=patients[i], permission=perms[p])
        for g, i, p in graph["group_grants"]
    )
    now = timezone.now()
    for (name, i), active in graph["glass"].items():
        grant = BreakGlassGrant.objects.create(
            patient=patients[i], user=users[name], reason="emergency", expires_at=now + timedelta(hours=1)
        )
        if not active:
            BreakGlassGrant.objects.filter(pk=grant.pk).update(
                granted_at=now - timedelta(days=2), expires_at=now - timedelta(days=1)
            )
    return patients


def _expected(graph, name: str, i: int) -> frozenset[str]:
    """The rule read plainly from the graph (the module docstring of patients/access.py)."""
    role_list, flags = PERSONAS[name]
    if flags.get("is_active") is False:
        return frozenset()
    role_perms = roles.patient_permissions_for_roles(role_list)
    granted = {p for n, j, p in graph["user_grants"] if n == name and j == i}
    my_groups = {g for n, g in graph["in_groups"] if n == name}
    granted |= {p for g, j, p in graph["group_grants"] if g in my_groups and j == i}
    dept = graph["depts"][i]
    if dept is not None and (name, dept) in graph["members"]:
        granted |= DEPARTMENT_PERMISSIONS
    if graph["glass"].get((name, i)):
        granted |= role_perms
    return frozenset(granted & role_perms)


def _condition_answers(user, perm: str) -> set:
    cond, params = visible_condition(
        user, perm, patient="pt.id", department="pt.department_id", merged="pt.merged_into_id"
    )
    with connection.cursor() as cur:
        cur.execute(f"SELECT pt.id FROM patients_patient pt WHERE {cond}", params)  # noqa: S608 (the rule's SQL)
        return {row[0] for row in cur.fetchall()}


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_form_of_the_rule_gives_the_same_answer(world, data):
    graph = _graph(data, world)
    with transaction.atomic():
        patients = _build(graph, world)
        User = get_user_model()
        for name in PERSONAS:
            fresh = lambda name=name: User.objects.get(username=f"vis.{name}")  # noqa: E731 (no cached roles)
            user = fresh()
            in_list = {perm: set(visible_patients(user, perm).values_list("pk", flat=True)) for perm in ASKED}
            in_sql = {perm: _condition_answers(user, perm) for perm in ASKED}
            for i, patient in enumerate(patients):
                expected = _expected(graph, name, i)
                access = patient_access_for(user, patient.pk)
                fetched, fetch_access = patient_fetch(fresh(), patient.pk)
                where = f"{name} on patient {i} ({graph})"
                assert access.perms == expected, where
                assert fetch_access.perms == expected, where
                assert fetched is None or fetched.pk == patient.pk
                dept = graph["depts"][i]
                administers = (
                    name == "practice_admin" and dept is not None and (name, dept) in graph["members"]
                )
                assert access.administers == fetch_access.administers == administers, where
                alias = graph["merged"][i] is not None
                for perm in ASKED:
                    listed = perm in expected and not alias
                    assert (patient.pk in in_list[perm]) == listed, f"visible_patients {perm}: {where}"
                    assert (patient.pk in in_sql[perm]) == listed, f"visible_condition {perm}: {where}"
        transaction.set_rollback(True)


# ------------------------------------------------------------------ patients and proxies (core/actors.py)
@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_portal_rule_gives_one_answer_in_every_form(world, data):
    """A portal account acting for a patient: its own record, or one a proxy grant covers while active and in
    scope. Random grants (scope, start, expiry, revocation), own records and choices of whom to act for."""
    from patients.actors import actor_for_user
    from patients.models import PORTAL_PERMISSIONS, PatientAccount, ProxyGrant

    n = data.draw(st.integers(2, 3), label="patients")
    own = data.draw(st.one_of(st.none(), st.integers(0, n - 1)), label="own record")
    grant = st.tuples(
        st.sets(st.sampled_from(PORTAL_PERMISSIONS), min_size=1),
        st.sampled_from([-120, 60]),  # started two minutes ago, or starts in a minute
        st.sampled_from([-1, 120]),  # expired a second ago, or expires in two minutes
        st.booleans(),  # revoked
    )
    drawn = data.draw(st.lists(st.one_of(st.none(), grant), min_size=n, max_size=n), label="proxy grants")
    grants = {i: g for i, g in enumerate(drawn) if g is not None}
    with transaction.atomic():
        patients = [make_patient(given_name=f"Q{i}") for i in range(n)]
        user = world["users"]["no_role"]
        PatientAccount.objects.create(user=user, patient=None if own is None else patients[own])
        now = timezone.now()
        for i, (scope, starts, expires, revoked) in grants.items():
            ProxyGrant.objects.create(
                user=user,
                patient=patients[i],
                relationship="parent",
                scope=sorted(scope),
                starts_at=now + timedelta(seconds=starts),
                expires_at=now + timedelta(seconds=max(expires, starts + 1)),
                revoked_at=now if revoked else None,
            )
        # Every choice of whom to act for: none (their own record), or each patient.
        for acting_for in [None, *range(n)]:
            user = get_user_model().objects.get(pk=user.pk)
            actor = actor_for_user(user, acting_for=None if acting_for is None else patients[acting_for].pk)
            represented = own if acting_for is None else acting_for
            for i, patient in enumerate(patients):
                expected: set[str] = set()
                if represented == i and own == i:
                    expected |= set(PORTAL_PERMISSIONS)
                scope, starts, expires, revoked = grants.get(i, (set(), 0, 0, True))
                if represented == i and starts < 0 and expires > 0 and not revoked:
                    expected |= scope
                where = f"patient {i}: own {own}, acting for {acting_for}, grants {grants}"
                assert patient_access_for(actor, patient.pk).perms == expected, where
                assert patient_fetch(actor, patient.pk)[1].perms == expected, where
                for perm in ASKED:
                    listed = visible_patients(actor, perm).filter(pk=patient.pk).exists()
                    assert listed == (perm in expected), f"visible_patients {perm}: {where}"
                    assert (patient.pk in _condition_answers(actor, perm)) == (perm in expected), where
        transaction.set_rollback(True)
