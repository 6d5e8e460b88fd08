"""Issue 18 #10 (e-prescribing pieces): an absurd X-Timestamp is refused as unauthenticated (401, not 503 "retry
later"); the demo pharmacy's shared secret is generated at load time, never a constant in the source, and an
operator can rotate it. (The simulator's control API: tests/prescriptions/test_pharmacy_sim.py.)"""

import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from prescriptions import signing
from prescriptions.models import InboxItem, Pharmacy
from tests.prescriptions.conftest import signed_rx
from tests.prescriptions.test_inbox import renewal_xml

SECRET = "s3cret-shared-with-the-pharmacy"


@pytest.fixture
def rx(clinician, patient, catalog, pharmacies):
    return signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])


def _post(client, body, headers):
    return client.post(
        reverse("prescriptions:inbound"), data=body, content_type="application/xml", headers=headers
    )


@pytest.mark.parametrize("timestamp", ["9" * 5000, "1" * 13, "²"])
def test_an_impossible_timestamp_is_unauthenticated_not_a_retry(client, rx, timestamp):
    body = renewal_xml(rx)
    headers = signing.sign_request(SECRET, body, pharmacy_id="1234567")
    headers["X-Timestamp"] = timestamp  # refused before the signature is looked at
    response = _post(client, body, headers)
    assert response.status_code == 401
    assert "Retry-After" not in response
    assert b"X-Timestamp must be unix seconds" in response.content
    assert not InboxItem.objects.exists()


def test_verify_signature_refuses_a_huge_timestamp_with_a_signature_error():
    body = b"<Message/>"
    headers = signing.sign_request("k", body)
    headers["X-Timestamp"] = "9" * 5000
    with pytest.raises(signing.SignatureError, match="unix seconds"):
        signing.verify_signature("k", headers, body)
    headers["X-Timestamp"] = str(int(time.time()) - 10)  # a sane one goes on to the signature check
    with pytest.raises(signing.SignatureError, match="bad signature"):
        signing.verify_signature("k", headers, body)


def test_the_demo_pharmacy_secret_is_generated_at_load_time(db, settings):
    from prescriptions import demo

    assert not hasattr(demo, "DEMO_SECRET")
    first = demo._pharmacies()[0].inbound_secret
    second = demo._pharmacies()[0].inbound_secret
    assert len(first) >= 40 and len(second) >= 40 and first != second
    assert first != "demo-pharmacy-shared-secret"
    assert Pharmacy.objects.get(ncpdp_id="1234567").inbound_secret == second


def test_rotating_a_pharmacy_secret_prints_the_new_one_and_retires_the_old(client, rx):
    out = io.StringIO()
    call_command("pharmacy_secret_rotate", "1234567", stdout=out)
    secret = out.getvalue().strip()
    assert len(secret) >= 40 and Pharmacy.objects.get(ncpdp_id="1234567").inbound_secret == secret
    body = renewal_xml(rx)
    old = _post(client, body, signing.sign_request(SECRET, body, pharmacy_id="1234567"))
    assert old.status_code == 401
    new = _post(client, body, signing.sign_request(secret, body, pharmacy_id="1234567"))
    assert new.status_code == 200 and InboxItem.objects.count() == 1
    with pytest.raises(CommandError, match="no pharmacy"):
        call_command("pharmacy_secret_rotate", "0000000", stdout=io.StringIO())
