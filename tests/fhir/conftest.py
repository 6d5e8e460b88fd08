"""Bearer tokens made directly with django-oauth-toolkit's models (the authorization flow is the toolkit's)."""

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from fhirapi.models import PatientLaunchContext


@pytest.fixture
def make_token(db):
    """make_token(user, scope, patient=None, grant=authorization-code, expires_in=3600) -> raw token string.

    With user=None the token is a client-credentials token of an application owned by `app_user`.
    """
    Application = get_application_model()

    def _make(user, scope, *, patient=None, app_user=None, expires_in=3600):
        grant = Application.GRANT_CLIENT_CREDENTIALS if user is None else Application.GRANT_AUTHORIZATION_CODE
        app = Application.objects.create(
            name="test app",
            user=app_user or user,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=grant,
            redirect_uris="https://app.example.test/callback",
        )
        raw = secrets.token_urlsafe(30)
        token = get_access_token_model().objects.create(
            user=user,
            application=app,
            token=raw,
            scope=scope,
            expires=timezone.now() + timedelta(seconds=expires_in),
        )
        if patient is not None:
            PatientLaunchContext.objects.create(token=token, patient=patient)
        return raw

    return _make


@pytest.fixture
def api(client):
    """api(token, path, **params) -> response of GET /fhir/<path> with the bearer token."""

    def _get(token, path, **params):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.get(f"/fhir/{path}", params, headers=headers)

    return _get
