"""System checks for the secrets a production start needs (`manage.py check`, `check --deploy`, and every command
that runs checks, such as `migrate`, which the deployment runs before the web server and workers start).

Without them the first patient page would answer 500 (patients/crypto.py reads the keys lazily). SECRET_KEY is
checked earlier still, in ehr/settings.py. Registered in accounts/apps.py: the project package (ehr) has no
AppConfig.ready() of its own. Messages never print a key.
"""

import base64
import binascii

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

HINT_KEYS = (
    'Set FIELD_ENCRYPTION_KEYS to "1:<key>", a urlsafe-base64 32-byte key made with: python3 -c '
    "'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'. See docs/deployment.md."
)
HINT_BLIND = "Set BLIND_INDEX_KEY to a long random value (e.g. python3 -c 'import secrets;print(secrets.token_urlsafe(48))')."


def _encryption_key_problems(raw: str) -> tuple[list[str], list[bytes]]:
    """What is wrong with FIELD_ENCRYPTION_KEYS ("version:base64key,..."), and the keys that parsed."""
    problems, keys, versions = [], [], set()
    for position, part in enumerate(raw.split(","), start=1):
        version, sep, b64 = part.strip().partition(":")
        if not sep or not version.strip().isdigit():
            problems.append(f'entry {position} is not "<version number>:<base64 key>"')
            continue
        if int(version) in versions:
            problems.append(f"key version {int(version)} is listed twice")
        versions.add(int(version))
        try:
            key = base64.urlsafe_b64decode(b64.strip() + "=" * (-len(b64.strip()) % 4))
        except (binascii.Error, ValueError):
            problems.append(f"key version {version} is not base64")
            continue
        if len(key) != 32:
            problems.append(f"key version {version} is {len(key)} bytes, not 32")
            continue
        keys.append(key)
    return problems, keys


@register(Tags.security)
def encryption_keys_check(app_configs, **kwargs):
    errors = []
    raw = (settings.FIELD_ENCRYPTION_KEYS or "").strip()
    if not raw:
        errors.append(
            Error(
                "FIELD_ENCRYPTION_KEYS is not set: patient identifiers cannot be encrypted or read.",
                hint=HINT_KEYS,
                id="accounts.E001",
            )
        )
    else:
        problems, _ = _encryption_key_problems(raw)
        if problems:
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS is malformed: {'; '.join(problems)}.",
                    hint=HINT_KEYS,
                    id="accounts.E002",
                )
            )
    if not (settings.BLIND_INDEX_KEY or "").strip():
        errors.append(
            Error(
                "BLIND_INDEX_KEY is not set: patients cannot be searched by SSN or phone.",
                hint=HINT_BLIND,
                id="accounts.E003",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def encryption_keys_strength_check(app_configs, **kwargs):
    warnings = []
    _, keys = _encryption_key_problems((settings.FIELD_ENCRYPTION_KEYS or "").strip())
    if any(len(set(key)) == 1 for key in keys):  # e.g. the all-zero placeholder of deploy/env.example
        warnings.append(
            Warning(
                "FIELD_ENCRYPTION_KEYS holds a placeholder key (every byte the same).",
                hint=HINT_KEYS,
                id="accounts.W001",
            )
        )
    blind = (settings.BLIND_INDEX_KEY or "").strip()
    if blind and len(blind) < 32:
        warnings.append(
            Warning(
                "BLIND_INDEX_KEY is shorter than 32 characters: too easy to guess.",
                hint=HINT_BLIND,
                id="accounts.W002",
            )
        )
    return warnings
