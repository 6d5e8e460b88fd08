"""Production refuses to start without its secrets, with messages that name what is missing (DEBUG off)."""

import base64
import subprocess
import sys

import pytest
from django.test import override_settings

from accounts.checks import encryption_keys_check, encryption_keys_strength_check
from tests.ehr.test_security_headers import ROOT, production_env

KEY = base64.urlsafe_b64encode(b"k" * 16 + b"e" * 16).decode()


def manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(**env_overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_secret_key_nothing_starts():
    result = manage("check", SECRET_KEY=None)

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr
    assert "insecure" not in result.stderr  # no fallback key was used


def test_development_needs_no_secret_key():
    assert manage("check", SECRET_KEY=None, DJANGO_DEBUG="1").returncode == 0


@pytest.mark.parametrize("command", [["check"], ["check", "--deploy"]])
def test_missing_encryption_keys_fail_the_checks_by_name(command):
    result = manage(*command, FIELD_ENCRYPTION_KEYS=None, BLIND_INDEX_KEY=None)

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "(accounts.E001) FIELD_ENCRYPTION_KEYS is not set" in output
    assert "(accounts.E003) BLIND_INDEX_KEY is not set" in output


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (KEY, 'entry 1 is not "<version number>:<base64 key>"'),
        ("one:" + KEY, 'entry 1 is not "<version number>:<base64 key>"'),
        ("1:c2hvcnQ=", "key version 1 is 5 bytes, not 32"),
        ("1:!!!", "key version 1 is"),
        (f"2:{KEY},2:{KEY}", "key version 2 is listed twice"),
    ],
)
def test_malformed_encryption_keys_are_named_without_printing_them(value, problem):
    with override_settings(FIELD_ENCRYPTION_KEYS=value):
        errors = encryption_keys_check(None)

    assert [e.id for e in errors] == ["accounts.E002"]
    assert problem in errors[0].msg
    assert KEY not in errors[0].msg


def test_good_keys_pass():
    with override_settings(FIELD_ENCRYPTION_KEYS=f"2:{KEY}, 1:{KEY}", BLIND_INDEX_KEY="b" * 40):
        assert encryption_keys_check(None) == []
        assert encryption_keys_strength_check(None) == []


def test_the_placeholders_of_env_example_are_flagged_by_check_deploy():
    example = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )

    with override_settings(
        FIELD_ENCRYPTION_KEYS=example["FIELD_ENCRYPTION_KEYS"], BLIND_INDEX_KEY=example["BLIND_INDEX_KEY"]
    ):
        assert (
            encryption_keys_check(None) == []
        )  # well-formed: `check` passes, so CI's compose check can use them
        assert [w.id for w in encryption_keys_strength_check(None)] == ["accounts.W001", "accounts.W002"]
