"""Through the real Celery worker: a slow pharmacy (timeout -> retry -> de-duplicated -> delivered), and the
periodic job itself (the beat entry's task, run by the worker) re-queueing a stuck message and expiring a NewRx
that never got its final answer after Status 000."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from prescriptions import outbox, tasks
from prescriptions.models import OutboundMessage, Prescription, RxStatus
from tests.conftest import wait_until
from tests.prescriptions.conftest import signed_rx

pytestmark = [pytest.mark.worker]


def _status(rx) -> str:
    return Prescription.objects.values_list("status", flat=True).get(pk=rx.pk)


def test_slow_pharmacy_timeout_retry_dedup_delivered(
    transactional_db, celery_worker_proc, clinician, patient, catalog, pharmacies, simulator
):
    # Slower than the send timeout, for the first request only: the pharmacy gets it, we never see the answer.
    simulator.mode(delay_ms=int((outbox.SEND_TIMEOUT_SECONDS + 1.5) * 1000), delay_count=1)
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    wait_until(lambda: _status(rx) == RxStatus.DELIVERED, timeout=45)
    msg = OutboundMessage.objects.get(prescription=rx)
    assert msg.attempts == 2
    assert any("attempt 1 of" in e.detail and "timed out" in e.detail for e in rx.events.all())
    # The pharmacy saw the MessageID twice, counted it once.
    stats = wait_until(lambda: (s := simulator.stats())["duplicate_deliveries"] == 1 and s, timeout=10)
    assert stats["unique_received"] == 1
    assert stats["prescriber_order_numbers"] == [rx.prescriber_order_number]


def test_beat_job_requeues_a_stuck_message_and_expires_an_unanswered_one(
    transactional_db, celery_worker_proc, clinician, patient, catalog, pharmacies, simulator, monkeypatch
):
    assert (
        settings.CELERY_BEAT_SCHEDULE["prescriptions-requeue-stuck"]["task"]
        == "prescriptions.tasks.requeue_stuck"
    )
    # A NewRx the network accepted (Status 000), sent by the worker; its final answer never comes.
    simulator.mode(status_code="000")
    waiting = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    wait_until(lambda: _status(waiting) == RxStatus.SENT, timeout=30)
    simulator.mode(status_code="010")
    # A NewRx whose task was lost (the broker dropped it): nothing will send it but the periodic job.
    monkeypatch.setattr(outbox, "enqueue", lambda msg_id: None)
    stuck = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    long_ago = timezone.now() - timedelta(seconds=outbox.STUCK_AFTER_SECONDS + 60)
    OutboundMessage.objects.filter(prescription=stuck).update(updated_at=long_ago, next_attempt_at=long_ago)
    OutboundMessage.objects.filter(prescription=waiting).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert _status(stuck) == RxStatus.QUEUED and simulator.stats()["unique_received"] == 1

    tasks.requeue_stuck.delay()  # the beat entry's task, run by the worker

    wait_until(lambda: _status(stuck) == RxStatus.DELIVERED, timeout=30)
    wait_until(lambda: _status(waiting) == RxStatus.NEEDS_ATTENTION, timeout=30)
    assert "no final answer" in Prescription.objects.get(pk=waiting.pk).status_reason
    stats = simulator.stats()
    assert stats["unique_received"] == 2 and stats["duplicate_deliveries"] == 0
