"""The pharmacy's renewal and change requests arrive in the prescriber's inbox (prescriptions.signals, sent in
the transaction that stored the request), once per request however often the pharmacy sends it, and leave it
when answered on the request's page."""

from django.urls import reverse

from inbox import selectors, sources
from inbox.models import InboxItem, Kind, State
from prescriptions import renewals
from prescriptions.models import InboxItem as RxRequest
from tests.factories import PASSWORD
from tests.prescriptions.conftest import post_inbound, signed_rx
from tests.prescriptions.test_inbox import change_xml, renewal_xml


def test_a_renewal_request_lands_in_the_inbox_once_and_leaves_when_denied(
    client,
    login,
    clinician,
    patient,
    catalog,
    pharmacies,
):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    body = renewal_xml(rx, refills=3)
    assert post_inbound(client, body).status_code == 200
    # The pharmacy sends the same message again (a retry): one request, one inbox item.
    client.logout()
    assert post_inbound(client, body).status_code == 200
    request = RxRequest.objects.get()
    item = InboxItem.objects.get()
    assert (item.kind, item.assignee, item.patient, item.source_ref) == (
        Kind.RENEWAL_REQUEST,
        clinician,
        patient,
        str(request.pk),
    )
    assert item.source_url() == reverse("prescriptions:inbox_item", args=[request.pk])
    page = login(clinician).get(reverse("inbox:inbox") + "?kind=renewal_request")
    assert page.status_code == 200 and request.summary.encode() in page.content
    renewals.inbox_respond(
        actor=clinician, item_id=request.pk, approve=False, reason_code="AA", password=PASSWORD
    )
    item.refresh_from_db()
    assert item.state == State.DONE and item.completed_by == clinician
    assert selectors.inbox_page(actor=clinician).items == []


def test_a_change_request_becomes_a_change_item(client, clinician, patient, catalog, pharmacies):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    body = change_xml(rx, [{"drug_description": "Ibuprofen 600 MG Oral Tablet", "rxnorm_code": "197806"}])
    assert post_inbound(client, body).status_code == 200
    assert InboxItem.objects.get().kind == Kind.CHANGE_REQUEST


def test_requests_from_before_the_inbox_are_synced_once(clinician, patient, catalog, pharmacies):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    RxRequest.objects.create(
        kind="renewal",
        message_id="9" * 32,
        pharmacy=pharmacies["electronic"],
        prescriber=clinician,
        patient=patient,
        prescription=rx,
        payload=b"",
        summary="Renewal request: Lisinopril",
    )
    RxRequest.objects.create(
        kind="renewal",
        message_id="8" * 32,
        pharmacy=pharmacies["electronic"],
        prescriber=clinician,
        patient=patient,
        prescription=rx,
        payload=b"",
        summary="Answered already",
        status="approved",
    )
    assert sources.pharmacy_requests_sync() == 1
    assert sources.pharmacy_requests_sync() == 0
    assert InboxItem.objects.get().title == "Renewal request: Lisinopril"
