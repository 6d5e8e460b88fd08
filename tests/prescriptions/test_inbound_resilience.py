"""Item: replay protection lives in PostgreSQL, so the inbound endpoint works while the cache (Redis) is down; any
other failure answers 503 with Retry-After and an NCPDP Error, never a 500. And item: every patient-linked model
of e-prescribing is in django-auditlog, PHI masked, and its writes name the patient."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from prescriptions import inbound, ncpdp_parse, signing
from prescriptions.models import InboundNonce, InboxItem
from tests.prescriptions.conftest import signed_rx
from tests.prescriptions.test_inbox import renewal_xml

SECRET = "s3cret-shared-with-the-pharmacy"
UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    }
}


@pytest.fixture
def rx(clinician, patient, catalog, pharmacies):
    return signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])


def _post(client, body, headers):
    return client.post(
        reverse("prescriptions:inbound"), data=body, content_type="application/xml", headers=headers
    )


def test_inbound_works_and_refuses_replays_with_the_cache_down(client, settings, rx):
    settings.CACHES = UNREACHABLE_CACHE
    with pytest.raises(Exception):  # noqa: B017 - the point: the cache really is unreachable
        cache.get("anything")
    body = renewal_xml(rx)
    headers = signing.sign_request(SECRET, body, pharmacy_id="1234567")
    r = _post(client, body, headers)
    assert r.status_code == 200 and ncpdp_parse.parse_message(r.content).message_type == "Status"
    assert _post(client, body, headers).status_code == 409  # the replay, refused from PostgreSQL
    assert InboxItem.objects.count() == 1
    assert InboundNonce.objects.filter(nonce=headers["X-Nonce"]).exists()


def test_infrastructure_failure_answers_503_with_retry_after(client, monkeypatch, rx):
    def down(**_):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(inbound, "inbound_receive", down)
    body = renewal_xml(rx)
    r = _post(client, body, signing.sign_request(SECRET, body, pharmacy_id="1234567"))
    assert r.status_code == 503 and r["Retry-After"] == "30"
    answer = ncpdp_parse.parse_message(r.content)
    assert (answer.message_type, answer.fields["code"]) == ("Error", "602")  # transient: the pharmacy retries
    assert answer.fields["transient"] and b"could not connect" not in r.content


def test_expired_nonces_are_purged(db):
    InboundNonce.objects.create(
        pharmacy_ncpdp_id="1234567", nonce="a" * 32, expires_at=timezone.now() - timedelta(1)
    )
    InboundNonce.objects.create(
        pharmacy_ncpdp_id="1234567", nonce="b" * 32, expires_at=timezone.now() + timedelta(1)
    )
    from prescriptions.tasks import purge_inbound_nonces

    assert purge_inbound_nonces() == 1
    assert list(InboundNonce.objects.values_list("nonce", flat=True)) == ["b" * 32]
    from django.conf import settings as django_settings

    assert django_settings.CELERY_BEAT_SCHEDULE["prescriptions-purge-inbound-nonces"]["task"] == (
        "prescriptions.tasks.purge_inbound_nonces"
    )


# ------------------------------------------------------------------ auditlog registration
def test_patient_linked_models_are_audited_with_phi_masked(client, clinician, patient, rx, simulator):
    from auditlog.models import LogEntry
    from auditlog.registry import auditlog
    from django.apps import apps

    from audit.models import AccessEvent
    from patients.models import Patient
    from tests.prescriptions.conftest import post_inbound

    linked = {
        m.__name__
        for m in apps.get_app_config("prescriptions").get_models()
        if any(getattr(f, "related_model", None) is Patient for f in m._meta.get_fields())
    }
    assert linked == {
        "Prescription",
        "PatientPharmacy",
        "PrescriptionEvent",
        "OutboundMessage",
        "InboxItem",
        "InboundAnswer",
    }
    assert all(auditlog.contains(apps.get_model("prescriptions", name)) for name in linked)

    post_inbound(client, renewal_xml(rx))
    event_entry = LogEntry.objects.filter(content_type__model="prescriptionevent").latest("pk")
    detail = rx.events.latest("pk").detail
    assert "detail" in event_entry.changes_dict and detail not in str(event_entry.changes_dict)  # masked
    outbound_entry = LogEntry.objects.filter(content_type__model="outboundmessage").latest("pk")
    assert "payload" not in outbound_entry.changes_dict
    inbox_entry = LogEntry.objects.filter(
        content_type__app_label="prescriptions", content_type__model="inboxitem"
    ).latest("pk")
    assert "payload" not in inbox_entry.changes_dict
    assert "summary" in inbox_entry.changes_dict and rx.medication.name not in str(inbox_entry.changes_dict)
    for entry in (event_entry, outbound_entry, inbox_entry):
        assert AccessEvent.objects.filter(
            channel="write", patient_id=patient.pk, detail__log_entry=entry.pk
        ).exists(), entry
