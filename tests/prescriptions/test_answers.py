"""Item: the status timeline. Every failed attempt says why; asynchronous Status, Verify and Error are accepted
on the inbound endpoint (authenticated, matched on RelatesToMessageID to our message, applied once per MessageID);
a NewRx answered Status 000 gets a deadline for its final answer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AccessEvent
from pharmacy_sim.outbound import build_outbound
from prescriptions import ncpdp_parse, outbox
from prescriptions.models import InboundAnswer, OutboundMessage, OutboundStatus, RxStatus
from tests.audit.helpers import mark
from tests.prescriptions.conftest import post_inbound, signed_rx
from tests.prescriptions.test_inbox import SIM_ID


def answer_xml(
    kind: str, relates_to: str, *, pharmacy_id: str = SIM_ID, message_id: str = "", **fields
) -> bytes:
    payload = {
        "pharmacy_ncpdp_id": pharmacy_id,
        "relates_to_message_id": relates_to,
        "message_id": message_id,
    }
    return build_outbound(kind, {**payload, **fields})[1]


@pytest.fixture
def accepted_rx(clinician, patient, catalog, pharmacies, simulator):
    """A NewRx the network accepted (Status 000): final answer to come."""
    simulator.mode(status_code="000")
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    msg = OutboundMessage.objects.get(prescription=rx)
    assert outbox.outbound_send(msg.pk) == "acknowledged"
    rx.refresh_from_db()
    msg.refresh_from_db()
    assert rx.status == RxStatus.SENT and msg.status == OutboundStatus.SENT
    return rx, msg


def test_each_transient_failure_leaves_a_timeline_event(clinician, patient, catalog, pharmacies, simulator):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    msg = OutboundMessage.objects.get(prescription=rx)
    simulator.mode(fail_rate=1.0)
    assert outbox.outbound_send(msg.pk) == "retry"
    simulator.mode(fail_rate=0.0, error_rate=1.0)
    assert outbox.outbound_send(msg.pk) == "retry"
    simulator.mode(error_rate=0.0)
    assert outbox.outbound_send(msg.pk) == "acknowledged"
    details = [e.detail for e in rx.events.all()]
    assert any("attempt 1 of 10 failed: HTTP 503" in d for d in details)
    assert any("attempt 2 of 10 failed: Error 602 simulated receiver system error" in d for d in details)
    assert rx.events.last().status == RxStatus.DELIVERED


@pytest.mark.parametrize(
    "kind, fields, status, msg_status",
    [
        ("verify", {}, RxStatus.DELIVERED, OutboundStatus.ACKNOWLEDGED),
        ("status", {"code": "010"}, RxStatus.DELIVERED, OutboundStatus.ACKNOWLEDGED),
        (
            "error",
            {"code": "900", "description": "prescriber not found"},
            RxStatus.NEEDS_ATTENTION,
            OutboundStatus.NEEDS_ATTENTION,
        ),
    ],
)
def test_asynchronous_answers_update_the_prescription(client, accepted_rx, kind, fields, status, msg_status):
    rx, msg = accepted_rx
    body = answer_xml(kind, msg.message_id, message_id="a" * 32, **fields)
    since = mark()
    r = post_inbound(client, body)
    assert r.status_code == 200 and ncpdp_parse.parse_message(r.content).message_type == "Status"
    rx.refresh_from_db()
    msg.refresh_from_db()
    assert (rx.status, msg.status) == (status, msg_status)
    assert AccessEvent.objects.filter(id__gt=since, channel="ncpdp", patient_id=rx.patient_id).exists()
    # The network re-delivers the same MessageID (a new nonce): answered, applied once.
    events = rx.events.count()
    assert post_inbound(client, body).status_code == 200
    assert rx.events.count() == events and InboundAnswer.objects.count() == 1


def test_asynchronous_transient_error_resends_the_same_message(client, accepted_rx, simulator):
    rx, msg = accepted_rx
    r = post_inbound(client, answer_xml("error", msg.message_id, code="602", description="pharmacy offline"))
    assert r.status_code == 200
    msg.refresh_from_db()
    assert msg.status == OutboundStatus.PENDING
    # The same MessageID again: the pharmacy de-duplicates and repeats its first answer (Status 000).
    assert outbox.outbound_send(msg.pk) == "acknowledged"
    rx.refresh_from_db()
    assert rx.status == RxStatus.SENT
    assert any("asynchronous Error 602" in e.detail for e in rx.events.all())
    stats = simulator.stats()
    assert stats["unique_received"] == 1 and stats["duplicate_deliveries"] == 1


def test_answers_must_relate_to_our_message_sent_to_that_pharmacy(client, accepted_rx, pharmacies):
    from prescriptions.models import Pharmacy

    rx, msg = accepted_rx
    assert post_inbound(client, answer_xml("verify", "0" * 32)).status_code == 400
    Pharmacy.objects.create(
        ncpdp_id="7777777",
        name="Elsewhere",
        is_electronic=True,
        endpoint="http://127.0.0.1:9/",
        accepts=["NewRx"],
        inbound_secret="elsewhere-secret",
    )
    since = mark()
    r = post_inbound(
        client,
        answer_xml("verify", msg.message_id, pharmacy_id="7777777"),
        pharmacy_id="7777777",
        secret="elsewhere-secret",
    )
    assert r.status_code == 400
    assert AccessEvent.objects.filter(id__gt=since, outcome="denied", patient_id=rx.patient_id).exists()
    assert post_inbound(client, answer_xml("verify", msg.message_id), secret="wrong").status_code == 401
    rx.refresh_from_db()
    assert rx.status == RxStatus.SENT


def test_status_000_without_final_answer_needs_attention_after_the_deadline(accepted_rx):
    rx, msg = accepted_rx
    assert msg.next_attempt_at > timezone.now() + timedelta(hours=23)  # 24 h by default (settings)
    assert outbox.outbound_expire_unanswered() == []
    OutboundMessage.objects.filter(pk=msg.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert outbox.outbound_expire_unanswered() == [str(msg.pk)]
    rx.refresh_from_db()
    assert rx.status == RxStatus.NEEDS_ATTENTION and "no final answer within 24 h" in rx.status_reason
