"""Writes for accounts: role groups and their permissions, staff status, sessions, recovery codes, reset emails."""

from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.db.models import Q
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from .models import UserSession
from .roles import ROLES, Role


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


def staff_status_sync(*, user_ids=None) -> None:
    """Make is_staff follow the roles: superusers and practice admins are staff, nobody else is.

    Nobody ticks "staff" by hand: code that asks `is_staff` (the admin's module pages, the prescriptions
    needs-attention list) then agrees with the role table. Called when roles or the superuser flag change
    (accounts/signals.py); migration 0004_derive_staff_status did the same once for existing accounts.
    `user_ids=None`: everyone.
    """
    User = get_user_model()
    users = User.objects.all() if user_ids is None else User.objects.filter(pk__in=user_ids)
    # An inner join: a subquery over an empty group would yield NULL, and NOT IN (NULL) matches nobody.
    admins = User.objects.filter(groups__name=Role.PRACTICE_ADMIN).values("pk")
    staff = Q(is_superuser=True) | Q(pk__in=admins)
    users.filter(staff, is_staff=False).update(is_staff=True)
    users.exclude(staff).filter(is_staff=True).update(is_staff=False)


def user_session_remember(*, user, session_key: str, previous_key: str | None = None) -> None:
    """Record which session belongs to whom (deactivating the user ends them all), replacing a rotated key.

    Callers: sign-in (signals.py) and any view that rotates the session key of a signed-in user (password change).
    """
    if previous_key and previous_key != session_key:
        UserSession.objects.filter(user=user, session_key=previous_key).delete()
    UserSession.objects.get_or_create(user=user, session_key=session_key)


def password_reset_send(*, user, request, new_account: bool = False) -> None:
    """Email the user a single-use link to choose a password (Django's reset tokens, accounts:password_reset_confirm).

    Callers: the admin (a practice admin never sets a password; the user chooses it). The link goes to the
    address on the account, which only a superuser may change.
    """
    site = get_current_site(request)
    context = {
        "email": user.email,
        "domain": site.domain,
        "site_name": site.name,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": "https" if request.is_secure() else "http",
    }
    prefix = "accounts/password_set" if new_account else "accounts/password_reset"
    PasswordResetForm().send_mail(f"{prefix}_subject.txt", f"{prefix}_email.txt", context, None, user.email)
