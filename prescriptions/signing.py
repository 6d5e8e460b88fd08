"""HMAC authentication for messages a pharmacy (or the pharmacy simulator) POSTs to the EHR.

Both sides use this module, so the scheme lives in one place. A request carries four headers:

- ``X-Pharmacy-Id``: who is sending; the receiver looks the shared secret up by it.
- ``X-Timestamp``: unix seconds when signed; requests outside ``max_skew`` are refused.
- ``X-Nonce``: random per request; the receiver stores it (Redis, on the Django side) to refuse replays.
- ``X-Signature``: hex HMAC-SHA256(secret, f"{timestamp}\\n{nonce}\\n" + body).

The real networks authenticate with mutual TLS (reference §6); this scheme stands in for that on our own
inbound endpoint. Pure functions: no Django, no storage.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping

HEADER_PHARMACY_ID = "X-Pharmacy-Id"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_SIGNATURE = "X-Signature"

DEFAULT_MAX_SKEW = 300

# The nonce becomes part of a cache key on the receiving side, so only short URL-safe tokens are accepted.
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_SIGNATURE_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# Unix seconds in ASCII digits; 12 digits reach the year 33658. A longer value is refused before int() (Python
# refuses to convert more than 4,300 digits, and a huge number is no time anyway); str.isdigit() would also let
# through digits such as "²" that int() cannot read.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """The request's authentication headers are missing, malformed, stale or do not match the body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def compute_signature(secret: str | bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over ``timestamp \\n nonce \\n body`` — the exact bytes both sides must agree on."""
    message = f"{timestamp}\n{nonce}\n".encode("ascii") + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign_request(
    secret: str | bytes, body: bytes, *, now: float | None = None, pharmacy_id: str | None = None
) -> dict[str, str]:
    """Headers that authenticate ``body``; add them to the POST unchanged.

    ``pharmacy_id`` is optional so a caller that sets ``X-Pharmacy-Id`` itself can still use this.
    """
    if not secret:
        raise ValueError("an empty secret cannot authenticate anything")
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    headers = {
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: compute_signature(secret, timestamp, nonce, body),
    }
    if pharmacy_id is not None:
        headers[HEADER_PHARMACY_ID] = pharmacy_id
    return headers


def verify_signature(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> None:
    """Raise ``SignatureError`` unless ``headers`` authenticate ``body`` under ``secret`` right now.

    ``headers`` may be any mapping (Django's ``request.headers``, a plain dict); names are matched
    case-insensitively. Does not check the nonce for reuse: the caller stores ``headers["X-Nonce"]``
    for ``2 * max_skew`` seconds and refuses a repeat.
    """
    if not secret:
        raise SignatureError("no secret configured for this sender")
    lowered = {name.lower(): value for name, value in headers.items()}

    def required(name: str) -> str:
        value = lowered.get(name.lower())
        if not value:
            raise SignatureError(f"missing header {name}")
        return value.strip()

    timestamp = required(HEADER_TIMESTAMP)
    nonce = required(HEADER_NONCE)
    signature = required(HEADER_SIGNATURE)

    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise SignatureError(f"{HEADER_TIMESTAMP} must be unix seconds (at most 12 digits)")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > max_skew:
        raise SignatureError(f"stale timestamp (more than {max_skew}s from the server clock)")
    if not _NONCE_RE.match(nonce):
        raise SignatureError(f"{HEADER_NONCE} must be 16-128 URL-safe characters")
    if not _SIGNATURE_RE.match(signature):
        raise SignatureError(f"{HEADER_SIGNATURE} must be 64 hex characters")

    expected = compute_signature(secret, timestamp, nonce, body)
    # Constant-time comparison so the signature cannot be guessed byte by byte from response timing.
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("bad signature")
