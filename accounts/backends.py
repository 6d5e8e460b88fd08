"""The sign-in backend: Django's ModelBackend, refusing service accounts (they act only through OAuth clients)."""

from django.contrib.auth.backends import ModelBackend


class InteractiveModelBackend(ModelBackend):
    """Passwords for people. A service account cannot sign in even if someone set it a password.

    Only authenticate() is changed: permission checks and loading the session's user stay ModelBackend's, with no
    extra query per request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            from .oauth_clients import service_account_is

            if service_account_is(user):
                return None
        return user
