"""Cancelling an order from the screens: ORC-1 CA in an ORM^O01 through the same outbox (after the order itself),
the simulator acknowledges it and withholds the results, the order shows as cancelled, and a result that arrives
for a cancelled order is still filed, flagged."""

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse

from orders import hl7wire

from .test_hl7 import ident, oru, receive, sign


@pytest.fixture
def order(clinician, patient, catalogue, lab, icd10):
    return sign(clinician, patient, catalogue["51990-0"], lab)


def cancel(actor, order, reason="ordered twice"):
    from orders import services

    return services.order_cancel(actor=actor, order_id=order.pk, reason=reason)


def test_cancel_queues_an_orm_with_order_control_ca(order, clinician, django_capture_on_commit_callbacks):
    from orders import outbox
    from orders.models import OutboundMessage

    with django_capture_on_commit_callbacks() as queued:
        cancel(clinician, order, "  ordered   twice ")
    assert len(queued) == 1  # the send is queued after commit, as for the order itself
    order.refresh_from_db()
    assert order.status == "cancelled" and order.status_reason == "ordered twice (Alice Able)"
    new, ca = OutboundMessage.objects.filter(order=order).order_by("created_at")
    assert new.message_type == "ORM^O01" and ca.message_type == outbox.CANCEL_TYPE
    sent = hl7wire.parse(bytes(ca.payload))
    assert hl7wire.get(sent.segment("ORC"), "1") == "CA"
    assert hl7wire.get(sent.segment("ORC"), "2.1") == order.placer_number
    assert hl7wire.header(sent)["message_type"] == "ORM^O01" and ca.control_id != new.control_id
    # The cancel never overtakes the order: while the order itself is unsent, the cancel waits (no attempt made).
    assert outbox.outbound_send(ca.pk) == "retry"
    ca.refresh_from_db()
    assert ca.status == "pending" and ca.attempts == 0 and "waiting for the order" in ca.last_error


def test_what_cannot_be_cancelled(order, clinician, nurse, colleague, patient):
    from orders.models import OutboundMessage

    with pytest.raises(ValidationError, match="Say why"):
        cancel(clinician, order, "   ")
    with pytest.raises(ValidationError, match="under 200"):
        cancel(clinician, order, "x" * 201)
    # A nurse may see the order but not cancel it (403); an outsider gets 404, like a missing order.
    from core.exceptions import ActionDenied

    with pytest.raises(ActionDenied):
        cancel(nurse, order)
    with pytest.raises(Http404):
        cancel(colleague, order)
    order.refresh_from_db()
    assert order.status == "queued" and OutboundMessage.objects.filter(order=order).count() == 1
    cancel(clinician, order)
    with pytest.raises(ValidationError, match="already cancelled"):
        cancel(clinician, order)
    assert OutboundMessage.objects.filter(order=order).count() == 2  # one cancel, not two


def test_an_order_with_a_result_cannot_be_cancelled(order, clinician, patient):
    assert receive(oru(ident(patient), placer=order.placer_number))[0] == "AA"
    with pytest.raises(ValidationError, match="already has a result"):
        cancel(clinician, order)
    order.refresh_from_db()
    assert order.status == "final"


def test_paper_orders_cancel_without_a_message(clinician, patient, catalogue, icd10):
    from orders.catalog import lab_ensure
    from orders.models import OutboundMessage

    paper = lab_ensure(name="Paper Lab", facility="PAPER", application="PAPER")
    order = sign(clinician, patient, catalogue["51990-0"], paper)
    cancel(clinician, order)
    order.refresh_from_db()
    assert order.status == "cancelled" and not OutboundMessage.objects.filter(order=order).exists()


def test_a_result_for_a_cancelled_order_is_filed_and_flagged(order, clinician, patient, login):
    from orders.models import InboundMessage, ResultReport

    cancel(clinician, order)
    code, _, text = receive(oru(ident(patient), placer=order.placer_number))
    assert code == "AA" and "cancelled" in text
    report = ResultReport.objects.get(order=order)
    order.refresh_from_db()
    assert order.status == "cancelled"  # still: the result does not revive it
    assert "a result arrived after it was cancelled" in order.status_reason
    assert "flagged: order" in InboundMessage.objects.get(pk=report.message_id).outcome
    client = login(clinician)
    page = client.get(reverse("orders:report", args=[report.pk])).content.decode()
    assert 'data-testid="cancelled-order-result"' in page and "ordered twice" in page
    page = client.get(reverse("orders:order", args=[order.pk])).content.decode()
    assert 'data-testid="after-cancel"' in page and 'data-testid="cancel-order"' not in page


def test_cancel_from_the_order_page(order, clinician, nurse, login):
    url = reverse("orders:order", args=[order.pk])
    page = login(nurse).get(url).content.decode()
    assert 'data-testid="cancel-order"' not in page  # a nurse sees no cancel button
    client = login(clinician)
    page = client.get(url).content.decode()
    assert 'data-testid="cancel-order"' in page
    resp = client.post(reverse("orders:cancel", args=[order.pk]), {"reason": ""}, follow=True)
    assert "Say why the order is cancelled" in resp.content.decode()
    order.refresh_from_db()
    assert order.status == "queued"
    resp = client.post(reverse("orders:cancel", args=[order.pk]), {"reason": "patient declined"}, follow=True)
    body = resp.content.decode()
    assert "Order cancelled." in body and "Cancelled: patient declined" in body
    assert 'data-testid="cancel-order"' not in body
    assert login(nurse).post(reverse("orders:cancel", args=[order.pk]), {"reason": "x"}).status_code == 403


@pytest.mark.worker
def test_the_lab_acknowledges_the_cancel_and_sends_no_results(
    transactional_db, clinician, patient, catalogue, icd10, lab, lab_sim, celery_worker_proc
):
    from orders import outbox
    from orders.models import OutboundMessage, ResultReport
    from tests.conftest import wait_until

    # Results would come later: the cancel reaches the lab first.
    lab_sim.mode(prelim_delay=20, final_delay=20)
    order = sign(clinician, patient, catalogue["51990-0"], lab)
    wait_until(lambda: order.placer_number in lab_sim.stats()["placer_numbers"], timeout=30)
    cancel(clinician, order)
    wait_until(
        lambda: OutboundMessage.objects.filter(
            order=order, message_type=outbox.CANCEL_TYPE, status="acknowledged"
        ).exists(),
        timeout=30,
    )
    stats = lab_sim.stats()
    assert stats["cancelled"] == [order.placer_number] and stats["unique_received"] == 2
    order.refresh_from_db()
    assert order.status == "cancelled"  # the lab's AA to the cancel leaves it so
    assert not ResultReport.objects.filter(order=order).exists()
