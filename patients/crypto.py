"""Encryption at rest for identifiers and contact details, and blind indexes for exact look-ups.

- AES-256-GCM (authenticated): a value is stored as "v<key version>:<base64(nonce || ciphertext+tag)>".
  The column name is bound in as associated data, so a ciphertext copied into another column does not decrypt.
- Keys come from FIELD_ENCRYPTION_KEYS="3:<b64 key>,2:<b64 key>": the first writes, every listed key reads.
  `manage.py rotate_keys` re-encrypts every row with the first key; then old keys can be removed.
- Blind index: HMAC-SHA256 with BLIND_INDEX_KEY over a normalised value (digits only for SSN and phone, letters
  and digits for a driver's licence), so search and duplicate checks by SSN, licence or phone are indexed
  equalities and never decrypt the table.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    pass


@functools.cache
def _keys() -> tuple[int, dict[int, AESGCM]]:
    raw = settings.FIELD_ENCRYPTION_KEYS
    if not raw:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set; see docs/deployment.md.")
    keys: dict[int, AESGCM] = {}
    current = None
    for part in raw.split(","):
        version, _, b64 = part.strip().partition(":")
        key = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        if len(key) != 32:
            raise ImproperlyConfigured(f"Field encryption key version {version} is not 32 bytes.")
        keys[int(version)] = AESGCM(key)
        current = current if current is not None else int(version)
    return current, keys


def reset_key_cache() -> None:
    _keys.cache_clear()
    _blind_key.cache_clear()


def current_key_version() -> int:
    return _keys()[0]


def encrypt(plaintext: str, *, context: str) -> str:
    version, keys = _keys()
    nonce = os.urandom(12)
    ct = keys[version].encrypt(nonce, plaintext.encode(), context.encode())
    return f"v{version}:" + base64.b64encode(nonce + ct).decode()


def decrypt(token: str, *, context: str) -> str:
    try:
        head, b64 = token.split(":", 1)
        version = int(head[1:])
        blob = base64.b64decode(b64)
        return _keys()[1][version].decrypt(blob[:12], blob[12:], context.encode()).decode()
    except Exception as exc:  # wrong key, tampered ciphertext, unknown version
        raise DecryptionError(f"cannot decrypt a value of {context}") from exc


def encrypt_bytes(data: bytes, *, context: str) -> bytes:
    """A file's bytes, as b"v<version>:" + nonce + ciphertext+tag (the same keys and rotation as the columns)."""
    version, keys = _keys()
    nonce = os.urandom(12)
    return f"v{version}:".encode() + nonce + keys[version].encrypt(nonce, data, context.encode())


def decrypt_bytes(blob: bytes, *, context: str) -> bytes:
    try:
        head, _, rest = blob.partition(b":")
        return _keys()[1][int(head[1:])].decrypt(rest[:12], rest[12:], context.encode())
    except Exception as exc:
        raise DecryptionError(f"cannot decrypt {context}") from exc


def key_version_of(token: str | None) -> int | None:
    if not token:
        return None
    m = re.match(r"v(\d+):", token)
    return int(m.group(1)) if m else None


@functools.cache
def _blind_key() -> bytes:
    if not settings.BLIND_INDEX_KEY:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is not set; see docs/deployment.md.")
    return settings.BLIND_INDEX_KEY.encode()


def digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def licence(value: str) -> str:
    """A driver's licence number as issued: letters and digits, upper case (D123-4567 == d1234567)."""
    return re.sub(r"[^A-Z0-9]", "", (value or "").upper())


def normalise_phone(value: str) -> str:
    d = digits(value)
    return d[1:] if len(d) == 11 and d.startswith("1") else d  # NANP: +1 is optional


def blind_index(kind: str, normalised: str) -> str:
    """Keyed hash for equality search. `kind` separates namespaces (an SSN never matches a phone)."""
    if not normalised:
        return ""
    return hmac.new(_blind_key(), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()[:40]


class EncryptedTextField(models.TextField):
    """Stores ciphertext; Python sees plaintext. Not searchable: pair it with a blind index column."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value, context=self.column)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value, context=self.column)


class EncryptedJSONField(models.TextField):
    """A JSON value (list or dict) encrypted as one ciphertext."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return None
        return json.loads(decrypt(value, context=self.column))

    def to_python(self, value):
        if isinstance(value, str) and value and value[0] in "[{":
            return json.loads(value)
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(json.dumps(value, sort_keys=True), context=self.column)
