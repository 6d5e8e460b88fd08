"""Writes for accounts: role groups and their permissions, recovery codes."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from .roles import ROLES


def roles_sync(*, group_model=Group, permission_model=Permission) -> None:
    """Create the role groups and give each exactly the model permissions roles.py lists.

    Called by the roles migration and after every migrate, so a role's permissions never drift from roles.py.
    """
    for spec in ROLES.values():
        group, _ = group_model.objects.get_or_create(name=spec.name)
        perms = []
        for dotted in spec.model_permissions:
            app_label, codename = dotted.split(".")
            perm = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.set(perms)


def recovery_codes_issue(*, user) -> list[str]:
    """Replace the user's recovery codes with ten new single-use ones and return them (shown once).

    Callers: enrolment (just verified) and the security page (verified session only).
    """
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(10)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes
