"""Item: cancelling. A denied CancelRxResponse puts the prescription back; needs-attention prescriptions can be
cancelled; a NewRx still queued is withdrawn, never sent; a CancelRx never overtakes its NewRx."""

import pytest
from django.core.exceptions import ValidationError

from pharmacy_sim.outbound import build_outbound
from prescriptions import cancelling, ncpdp, ncpdp_parse, outbox, renewals
from prescriptions.models import OutboundMessage, OutboundStatus, RxStatus
from tests.prescriptions.conftest import post_inbound, signed_rx
from tests.prescriptions.test_inbox import SIM_ID


def cancel_response(cancel: OutboundMessage, *, approved: bool, **fields) -> bytes:
    payload = {
        "pharmacy_ncpdp_id": SIM_ID,
        "relates_to_message_id": cancel.message_id,
        "prescriber_order_number": cancel.prescription.prescriber_order_number,
        "approved": approved,
        **fields,
    }
    return build_outbound("cancel-response", payload)[1]


@pytest.fixture
def delivered_rx(clinician, patient, catalog, pharmacies, simulator):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    assert outbox.outbound_send(OutboundMessage.objects.get(prescription=rx).pk) == "acknowledged"
    rx.refresh_from_db()
    assert rx.status == RxStatus.DELIVERED
    return rx


def _sent_types(simulator) -> list[str]:
    return [m["message_type"] for m in simulator.stats()["messages"]]


def test_denied_cancel_restores_the_prescription(client, clinician, delivered_rx, simulator):
    cancelling.prescription_cancel(actor=clinician, prescription_id=delivered_rx.pk)
    cancel = OutboundMessage.objects.get(prescription=delivered_rx, message_type=ncpdp.CANCEL_RX)
    assert outbox.outbound_send(cancel.pk) == "acknowledged"
    delivered_rx.refresh_from_db()
    assert delivered_rx.status == RxStatus.CANCEL_REQUESTED
    body = cancel_response(
        cancel, approved=False, reason_codes=["AR"], denial_reason="moved to another store"
    )
    assert post_inbound(client, body).status_code == 200
    delivered_rx.refresh_from_db()
    assert delivered_rx.status == RxStatus.DELIVERED
    last = delivered_rx.events.last()
    assert (
        "pharmacy denied the cancel" in last.detail and "AR" in last.detail and "another store" in last.detail
    )


def test_approved_cancel_cancels(client, clinician, delivered_rx):
    cancelling.prescription_cancel(actor=clinician, prescription_id=delivered_rx.pk)
    cancel = OutboundMessage.objects.get(prescription=delivered_rx, message_type=ncpdp.CANCEL_RX)
    outbox.outbound_send(cancel.pk)
    assert post_inbound(client, cancel_response(cancel, approved=True)).status_code == 200
    delivered_rx.refresh_from_db()
    assert delivered_rx.status == RxStatus.CANCELLED
    with pytest.raises(ValidationError):
        cancelling.prescription_cancel(actor=clinician, prescription_id=delivered_rx.pk)


def test_cancel_while_new_rx_still_queued_sends_nothing(clinician, patient, catalog, pharmacies, simulator):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    new_rx = OutboundMessage.objects.get(prescription=rx)
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    rx.refresh_from_db()
    new_rx.refresh_from_db()
    assert rx.status == RxStatus.CANCELLED and new_rx.status == OutboundStatus.WITHDRAWN
    assert not OutboundMessage.objects.filter(prescription=rx, message_type=ncpdp.CANCEL_RX).exists()
    assert outbox.outbound_send(new_rx.pk) == "skipped"  # the task queued at signing finds nothing to send
    assert simulator.stats()["unique_received"] == 0


def test_cancel_rx_waits_for_its_new_rx(client, clinician, patient, catalog, pharmacies, simulator):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    new_rx = OutboundMessage.objects.get(prescription=rx)
    simulator.mode(fail_rate=1.0)
    assert outbox.outbound_send(new_rx.pk) == "retry"  # attempted: the pharmacy may hold it
    simulator.mode(fail_rate=0.0)
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    cancel = OutboundMessage.objects.get(prescription=rx, message_type=ncpdp.CANCEL_RX)
    assert "waits until the NewRx is answered" in rx.events.last().detail
    assert outbox.outbound_send(cancel.pk) == "waiting"
    assert _sent_types(simulator) == []
    assert outbox.outbound_send(new_rx.pk) == "acknowledged"
    rx.refresh_from_db()
    assert (rx.status, rx.status_before_cancel) == (RxStatus.CANCEL_REQUESTED, RxStatus.DELIVERED)
    assert outbox.outbound_send(cancel.pk) == "acknowledged"
    assert _sent_types(simulator) == ["NewRx", "CancelRx"]
    post_inbound(client, cancel_response(cancel, approved=False, reason_codes=["AP"]))
    rx.refresh_from_db()
    assert rx.status == RxStatus.DELIVERED


def test_refused_new_rx_while_cancel_waits_cancels_locally(
    clinician, patient, catalog, pharmacies, simulator
):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    new_rx = OutboundMessage.objects.get(prescription=rx)
    simulator.mode(fail_rate=1.0)
    outbox.outbound_send(new_rx.pk)
    simulator.mode(fail_rate=0.0, permanent_error_for=[rx.prescriber_order_number])
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    assert outbox.outbound_send(new_rx.pk) == "rejected"
    rx.refresh_from_db()
    cancel = OutboundMessage.objects.get(prescription=rx, message_type=ncpdp.CANCEL_RX)
    assert rx.status == RxStatus.CANCELLED and cancel.status == OutboundStatus.WITHDRAWN
    assert outbox.outbound_send(cancel.pk) == "skipped"
    assert _sent_types(simulator) == ["NewRx"]


def test_needs_attention_after_refusal_cancels_locally(clinician, patient, catalog, pharmacies, simulator):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    simulator.mode(permanent_error_for=[rx.prescriber_order_number])
    new_rx = OutboundMessage.objects.get(prescription=rx)
    assert outbox.outbound_send(new_rx.pk) == "rejected"
    rx.refresh_from_db()
    assert rx.status == RxStatus.NEEDS_ATTENTION
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    rx.refresh_from_db()
    new_rx.refresh_from_db()
    assert rx.status == RxStatus.CANCELLED and new_rx.status == OutboundStatus.WITHDRAWN
    assert not OutboundMessage.objects.filter(prescription=rx, message_type=ncpdp.CANCEL_RX).exists()


def test_needs_attention_without_an_answer_sends_a_cancel_rx(
    clinician, patient, catalog, pharmacies, simulator
):
    """The NewRx gave up on timeouts / 503s: the pharmacy may hold it, so it gets a CancelRx."""
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    new_rx = OutboundMessage.objects.get(prescription=rx)
    simulator.mode(fail_rate=1.0)
    outbox.outbound_send(new_rx.pk)
    outbox.outbound_give_up(new_rx.pk, "no answer after 10 tries")
    rx.refresh_from_db()
    assert rx.status == RxStatus.NEEDS_ATTENTION
    simulator.mode(fail_rate=0.0)
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    rx.refresh_from_db()
    assert rx.status == RxStatus.CANCEL_REQUESTED
    cancel = OutboundMessage.objects.get(prescription=rx, message_type=ncpdp.CANCEL_RX)
    assert outbox.outbound_send(cancel.pk) == "acknowledged"


def test_cancel_button_offered_for_needs_attention(login, clinician, patient, catalog, pharmacies, simulator):
    from django.urls import reverse

    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    simulator.mode(permanent_error_for=[rx.prescriber_order_number])
    outbox.outbound_send(OutboundMessage.objects.get(prescription=rx).pk)
    c = login(clinician)
    assert b"Cancel prescription" in c.get(rx.get_absolute_url()).content
    assert c.post(reverse("prescriptions:cancel", args=[rx.pk])).status_code == 302
    rx.refresh_from_db()
    assert rx.status == RxStatus.CANCELLED


def test_cancelling_a_renewed_prescription_sends_a_cancel_rx(client, clinician, delivered_rx, simulator):
    """A renewal approval hands the new prescription to the pharmacy by itself (no NewRx): cancelling it later
    still needs a CancelRx, related to that approving response."""
    from prescriptions.models import InboxItem, Prescription
    from tests.factories import PASSWORD
    from tests.prescriptions.test_inbox import renewal_xml

    post_inbound(client, renewal_xml(delivered_rx))
    renewals.inbox_respond(
        actor=clinician, item_id=InboxItem.objects.get().pk, approve=True, password=PASSWORD
    )
    new = Prescription.objects.get(replaces=delivered_rx)
    response = OutboundMessage.objects.get(message_type=ncpdp.RX_RENEWAL_RESPONSE)
    assert outbox.outbound_send(response.pk) == "acknowledged"
    cancelling.prescription_cancel(actor=clinician, prescription_id=new.pk)
    new.refresh_from_db()
    assert new.status == RxStatus.CANCEL_REQUESTED
    cancel = OutboundMessage.objects.get(prescription=new, message_type=ncpdp.CANCEL_RX)
    assert ncpdp_parse.parse_message(bytes(cancel.payload)).relates_to_message_id == response.message_id
