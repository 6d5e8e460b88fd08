"""Roles are groups made by the migration and kept in line with accounts/roles.py after every migrate."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission

from accounts.roles import PATIENT_PERMISSION_LABELS, ROLES, Role, mfa_required, roles_markdown
from accounts.services import roles_sync
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def group_perms(name: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()
    }


def existing(dotted: set[str]) -> set[str]:
    return {
        d
        for d in dotted
        if Permission.objects.filter(
            content_type__app_label=d.split(".")[0], codename=d.split(".")[1]
        ).exists()
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_is_a_group_holding_exactly_its_listed_permissions(role):
    listed = set(ROLES[role].model_permissions)

    assert group_perms(role) == existing(listed)


@pytest.mark.django_db
def test_the_permissions_roles_rely_on_exist_after_migrate():
    listed = {p for spec in ROLES.values() for p in spec.model_permissions}
    # encounters.* are defined by the scheduling models (in progress); roles_sync attaches them once they exist.
    pending = {p for p in listed if p.startswith("encounters.")}

    assert existing(listed - pending) == listed - pending


@pytest.mark.django_db
def test_patient_permissions_exist_on_the_patient_model():
    codenames = set(
        Permission.objects.filter(
            content_type__app_label="patients", content_type__model="patient"
        ).values_list("codename", flat=True)
    )

    assert set(PATIENT_PERMISSION_LABELS) <= codenames


@pytest.mark.django_db
def test_roles_sync_repairs_drift():
    front_desk = Group.objects.get(name=Role.FRONT_DESK)
    front_desk.permissions.add(Permission.objects.get(codename="view_accessevent"))
    Group.objects.get(name=Role.PRIVACY_OFFICER).delete()

    roles_sync()
    roles_sync()  # idempotent

    assert "audit.view_accessevent" not in group_perms(Role.FRONT_DESK)
    assert group_perms(Role.PRIVACY_OFFICER) == {"audit.view_accessevent", "audit.view_reports"}
    assert Group.objects.filter(name__in=list(ROLES)).count() == len(ROLES)


def test_docs_roles_md_is_generated_from_roles_py():
    """If this fails, run `python3 dev.py manage roles_doc` and commit docs/roles.md."""
    assert (ROOT / "docs" / "roles.md").read_text() == roles_markdown()


def test_docs_roles_md_names_every_role_and_permission():
    doc = (ROOT / "docs" / "roles.md").read_text()

    for spec in ROLES.values():
        assert f"`{spec.name}`" in doc
        for perm in (*spec.model_permissions, *spec.patient_permissions):
            assert f"`{perm}`" in doc


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "required"),
    [
        (Role.CLINICIAN, True),
        (Role.PRACTICE_ADMIN, True),
        (Role.PRIVACY_OFFICER, True),
        (Role.NURSE, False),
        (Role.FRONT_DESK, False),
    ],
)
def test_mfa_required_roles(role, required):
    assert mfa_required(UserFactory(roles=[role])) is required
