"""Patient data is never cached (NoStoreMiddleware), the CSP header is everywhere, and check --deploy is clean."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def assert_no_store(response):
    cache_control = response["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control


def assert_csp(response):
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


@pytest.mark.django_db
def test_login_page_has_no_store_and_csp(client):
    response = client.get(reverse("accounts:login"))

    assert response.status_code == 200
    assert_no_store(response)
    assert_csp(response)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["home", "search", "detail"])
def test_pages_with_patient_data_are_never_stored(login, clinician, patient, page):
    client = login(clinician)
    url = {
        "home": reverse("home"),
        "search": reverse("patients:search") + "?q=Garcia",
        "detail": reverse("patients:detail", args=[patient.pk]),
    }[page]

    response = client.get(url)

    assert response.status_code == 200
    assert_no_store(response)
    assert_csp(response)


@pytest.mark.django_db
def test_htmx_partials_and_redirects_are_never_stored_either(login, clinician, patient):
    client = login(clinician)

    partial = client.get(reverse("patients:search") + "?q=Garcia", headers={"HX-Request": "true"})
    redirect = client.get(reverse("accounts:login"))  # signed in: redirected home

    assert partial.status_code == 200
    assert_no_store(partial)
    assert redirect.status_code == 302
    assert_no_store(redirect)


def production_env(**overrides) -> dict[str, str]:
    """What deploy/env.example asks for, with real random secrets: DJANGO_DEBUG unset, SSL redirect left alone."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ehr"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_check_deploy_is_clean_with_production_settings():
    env = production_env()

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output, output
