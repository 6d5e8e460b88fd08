"""Writes for accounts: role groups and their permissions."""

from django.contrib.auth.models import Group, Permission

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
            perm = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.set(perms)
