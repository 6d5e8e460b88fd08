"""prescriptions.signing: the HMAC scheme pharmacies use on the EHR's inbound endpoint. Pure, no database."""

import hashlib
import hmac

import pytest

from prescriptions.signing import SignatureError, sign_request, verify_signature

SECRET = "s3cret-shared-with-the-pharmacy"
BODY = b"<Message>...</Message>"
NOW = 1_750_000_000


def test_round_trip():
    headers = sign_request(SECRET, BODY, now=NOW, pharmacy_id="1234567")

    assert headers["X-Pharmacy-Id"] == "1234567"
    assert headers["X-Timestamp"] == str(NOW)
    verify_signature(SECRET, headers, BODY, now=NOW + 10)


def test_signature_is_hmac_sha256_of_timestamp_nonce_and_body():
    headers = sign_request(SECRET, BODY, now=NOW)
    message = f"{NOW}\n{headers['X-Nonce']}\n".encode() + BODY

    assert headers["X-Signature"] == hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert "X-Pharmacy-Id" not in headers


def test_each_request_gets_a_fresh_nonce():
    assert sign_request(SECRET, BODY, now=NOW)["X-Nonce"] != sign_request(SECRET, BODY, now=NOW)["X-Nonce"]


def test_header_names_are_case_insensitive():
    headers = {name.lower(): value for name, value in sign_request(SECRET, BODY, now=NOW).items()}
    verify_signature(SECRET, headers, BODY, now=NOW)


def test_bytes_secret_matches_text_secret():
    headers = sign_request(SECRET.encode(), BODY, now=NOW)
    verify_signature(SECRET, headers, BODY, now=NOW)


def test_tampered_body_is_refused():
    headers = sign_request(SECRET, BODY, now=NOW)
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signature(SECRET, headers, BODY + b" ", now=NOW)


def test_wrong_secret_is_refused():
    headers = sign_request("another pharmacy's secret", BODY, now=NOW)
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signature(SECRET, headers, BODY, now=NOW)


def test_changed_nonce_or_timestamp_breaks_the_signature():
    headers = sign_request(SECRET, BODY, now=NOW)
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signature(SECRET, headers | {"X-Nonce": "0" * 32}, BODY, now=NOW)
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signature(SECRET, headers | {"X-Timestamp": str(NOW + 1)}, BODY, now=NOW)


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_stale_or_future_timestamp_is_refused(offset):
    headers = sign_request(SECRET, BODY, now=NOW)
    with pytest.raises(SignatureError, match="stale"):
        verify_signature(SECRET, headers, BODY, now=NOW + offset)


def test_skew_is_configurable():
    headers = sign_request(SECRET, BODY, now=NOW)
    verify_signature(SECRET, headers, BODY, now=NOW + 300)
    with pytest.raises(SignatureError, match="stale"):
        verify_signature(SECRET, headers, BODY, now=NOW + 60, max_skew=30)


@pytest.mark.parametrize("missing", ["X-Timestamp", "X-Nonce", "X-Signature"])
def test_missing_header_is_refused(missing):
    headers = sign_request(SECRET, BODY, now=NOW)
    del headers[missing]
    with pytest.raises(SignatureError, match=f"missing header {missing}"):
        verify_signature(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("X-Timestamp", "1750000000.5", "unix seconds"),
        ("X-Timestamp", "-1", "unix seconds"),
        ("X-Nonce", "short", "X-Nonce"),
        ("X-Nonce", "a" * 20 + ":redis-key-injection", "X-Nonce"),
        ("X-Signature", "not-hex", "64 hex"),
    ],
)
def test_malformed_headers_are_refused(header, value, reason):
    headers = sign_request(SECRET, BODY, now=NOW) | {header: value}
    with pytest.raises(SignatureError, match=reason):
        verify_signature(SECRET, headers, BODY, now=NOW)


def test_empty_secret_never_verifies():
    headers = sign_request(SECRET, BODY, now=NOW)
    with pytest.raises(SignatureError, match="no secret"):
        verify_signature("", headers, BODY, now=NOW)
    with pytest.raises(ValueError, match="empty secret"):
        sign_request("", BODY)


def test_uppercase_hex_signature_is_accepted():
    headers = sign_request(SECRET, BODY, now=NOW)
    headers["X-Signature"] = headers["X-Signature"].upper()
    verify_signature(SECRET, headers, BODY, now=NOW)


def test_error_carries_the_reason():
    with pytest.raises(SignatureError) as excinfo:
        verify_signature(SECRET, {}, BODY, now=NOW)
    assert excinfo.value.reason == "missing header X-Timestamp"
