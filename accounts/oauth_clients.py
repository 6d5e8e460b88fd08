"""OAuth applications (django-oauth-toolkit) are made by administrators, never by users (issue 18 #1).

- No self-service: ehr/urls.py routes only the endpoints a client uses (authorize, token, revoke, introspect, the
  metadata); the toolkit's /o/applications/ pages and dynamic registration are not routed. Applications are made in
  the Django admin (superusers: practice admins hold no oauth2_provider permission) or with
  `manage.py oauth_client_create`.
- Two kinds: user apps (authorization code + PKCE; the token acts as the signed-in user, who consents) and system
  apps (client credentials; the token acts as the application's user). A system app's user must be a dedicated
  ServiceAccount, which cannot sign in (accounts/backends.py); the token endpoint refuses to issue otherwise
  (application_may_issue, asked by fhirapi.oauth.SmartValidator).
- Every creation and change of an application or service account is audited: both models are registered with
  django-auditlog (accounts/apps.py), whose entries become access events in the chain (audit/signals.py). The client
  secret is never logged.
- Lifetimes (OAUTH2_PROVIDER in ehr/settings.py): access tokens 15 minutes, refresh tokens (user apps only)
  12 hours.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

GRANT_AUTHORIZATION_CODE = "authorization-code"
GRANT_CLIENT_CREDENTIALS = "client-credentials"
ALLOWED_GRANTS = (GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS)


def service_account_is(user) -> bool:
    from .models import ServiceAccount

    return (
        user is not None and user.pk is not None and ServiceAccount.objects.filter(user_id=user.pk).exists()
    )


def application_problems(*, grant_type: str, user) -> dict[str, str]:
    """What is wrong with an application of this grant type owned by this user, by field (empty: nothing)."""
    if grant_type not in ALLOWED_GRANTS:
        return {
            "authorization_grant_type": "Only authorization code (user apps) and client credentials (backend "
            "services) are allowed."
        }
    if grant_type == GRANT_CLIENT_CREDENTIALS and not service_account_is(user):
        return {
            "user": "A client-credentials application acts as its user: choose a service account (made with "
            "manage.py oauth_client_create), not a person's account."
        }
    return {}


def application_check(app) -> None:
    """Raise ValidationError unless the application may exist as configured (the admin form asks this)."""
    problems = application_problems(grant_type=app.authorization_grant_type, user=app.user)
    if problems:
        raise ValidationError(problems)


def application_may_issue(app, grant_type: str | None) -> bool:
    """The token endpoint's question: may this application get a token by this grant now?"""
    if grant_type == "client_credentials":
        return app.authorization_grant_type == GRANT_CLIENT_CREDENTIALS and service_account_is(app.user)
    return True


def service_account_create(*, username: str, purpose: str):
    """A user that cannot sign in (unusable password, refused by the sign-in backend) with its ServiceAccount row."""
    from .models import ServiceAccount

    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError(
            f"The username {username!r} is taken; service accounts get a new user of their own."
        )
    with transaction.atomic():
        user = User(username=username, first_name="Service", last_name=purpose[:150])
        user.set_unusable_password()
        user.save()
        ServiceAccount.objects.create(user=user, purpose=purpose)
    return user


def oauth_client_create(
    *, name: str, service_account=None, redirect_uris: str = "", public: bool = False
) -> tuple[object, str]:
    """Make an application; returns it and its client secret (shown once: the toolkit stores only a hash).

    With `service_account` (a user made by service_account_create): a confidential client-credentials app acting
    as that account. Otherwise a user app (authorization code with PKCE) for the given redirect URIs.
    """
    from oauth2_provider.generators import generate_client_secret
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    system = service_account is not None
    if not system and not redirect_uris.strip():
        raise ValidationError("A user app needs at least one redirect URI.")
    secret = "" if public and not system else generate_client_secret()
    app = Application(
        name=name,
        user=service_account,
        client_type=Application.CLIENT_CONFIDENTIAL if system or not public else Application.CLIENT_PUBLIC,
        authorization_grant_type=GRANT_CLIENT_CREDENTIALS if system else GRANT_AUTHORIZATION_CODE,
        redirect_uris="" if system else redirect_uris.strip(),
        client_secret=secret,
    )
    application_check(app)
    app.full_clean()
    app.save()
    return app, secret
