"""Error pages say what happened in plain words and nothing about the system (DEBUG is off, as in production)."""

import re
import uuid

import pytest
from django.test import Client, override_settings

from tests.ehr.error_urls import SECRET_IN_EXCEPTION

pytestmark = pytest.mark.django_db

# The failing views live in a test-only urlconf; production urls carry no such route.
production_errors = override_settings(DEBUG=False, ROOT_URLCONF="tests.ehr.error_urls")

LEAKS = [
    "Traceback",
    "RuntimeError",
    "PermissionDenied",
    SECRET_IN_EXCEPTION,
    "settings.py",
    "Django",
    "DEBUG",
    "urlpatterns",
    "__test__",
]


def _without_csrf(body: bytes) -> bytes:
    """The page with its CSRF token blanked (a masked token differs on every response)."""
    body = re.sub(rb'"X-CSRFToken": "[^"]*"', b'"X-CSRFToken": ""', body)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b'name="csrfmiddlewaretoken" value=""', body)


def assert_no_leak(html: str):
    for needle in LEAKS:
        assert needle not in html, needle


@production_errors
def test_500_renders_the_plain_error_page_without_a_traceback():
    client = Client(raise_request_exception=False)

    response = client.get("/__test__/boom/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert [t.name for t in response.templates] == ["errors/500.html"]
    assert_no_leak(html)


@production_errors
def test_403_does_not_echo_the_reason(client):
    response = client.get("/__test__/forbidden/")

    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
    assert_no_leak(response.content.decode())


@production_errors
def test_404_does_not_echo_the_path_or_the_url_list(client):
    response = client.get("/no-such-page-<script>/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Not found" in html
    assert "no-such-page" not in html
    assert "<script>" not in html
    assert_no_leak(html)


@production_errors
def test_a_patient_the_user_may_not_see_looks_like_one_that_does_not_exist(login, clinician, other_patient):
    client = login(clinician)

    outsider = client.get(f"/patients/{other_patient.pk}/")
    missing = client.get(f"/patients/{uuid.uuid4()}/")

    assert outsider.status_code == missing.status_code == 404
    assert _without_csrf(outsider.content) == _without_csrf(missing.content)
    assert "Olaf" not in outsider.content.decode()
