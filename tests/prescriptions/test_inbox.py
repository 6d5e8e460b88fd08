"""Renewal and change requests: matching to the sending pharmacy only, the signing rules at approval, refill
limits, a new prescription linked to the original, the drug the prescriber picked in the RxChangeResponse, and
the inbox re-checking access to the patient."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import AccessEvent
from pharmacy_sim.outbound import build_outbound
from prescriptions import checks, ncpdp, ncpdp_parse, outbox, renewals, selectors, signature
from prescriptions.models import InboxItem, OutboundMessage, Pharmacy, Prescription, RxStatus
from tests.audit.helpers import mark
from tests.conftest import totp_now
from tests.factories import PASSWORD
from tests.prescriptions.conftest import post_inbound, signed_rx, totp_device
from tests.prescriptions.test_services import add_statement

SIM_ID = "1234567"


def _new_rx_id(rx) -> str:
    return OutboundMessage.objects.get(prescription=rx, message_type=ncpdp.NEW_RX).message_id


def renewal_xml(rx, *, refills: int = 2, pharmacy_id: str = SIM_ID, relate: bool = True, **extra) -> bytes:
    payload = {
        "pharmacy_ncpdp_id": pharmacy_id,
        "prescriber_order_number": rx.prescriber_order_number,
        "relates_to_message_id": _new_rx_id(rx) if relate else "",
        "drug_description": rx.medication.name,
        "rxnorm_code": rx.medication.rxcui,
        "refills": refills,
        **extra,
    }
    return build_outbound("renewal", payload)[1]


def change_xml(rx, requested: list[dict], *, pharmacy_id: str = SIM_ID, request_code: str = "T") -> bytes:
    payload = {
        "pharmacy_ncpdp_id": pharmacy_id,
        "prescriber_order_number": rx.prescriber_order_number,
        "relates_to_message_id": _new_rx_id(rx),
        "request_code": request_code,
        "prescribed": {"drug_description": rx.medication.name, "rxnorm_code": rx.medication.rxcui},
        "requested": requested,
    }
    return build_outbound("change", payload)[1]


@pytest.fixture
def other_pharmacy(db):
    return Pharmacy.objects.create(
        ncpdp_id="7777777",
        name="Elsewhere Pharmacy",
        phone="2175550177",
        is_electronic=True,
        endpoint="http://127.0.0.1:9/ncpdp",
        accepts=["NewRx", "CancelRx", "RxRenewalResponse", "RxChangeResponse"],
        inbound_secret="elsewhere-secret",
    )


# ------------------------------------------------------------------ item 5: the sending pharmacy only
@pytest.mark.parametrize("relate", [True, False], ids=["by-relates-to", "by-order-number"])
def test_request_for_a_prescription_sent_elsewhere_is_refused_and_recorded(
    client, clinician, patient, catalog, pharmacies, other_pharmacy, relate
):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    since = mark()
    body = renewal_xml(rx, pharmacy_id=other_pharmacy.ncpdp_id, relate=relate)
    r = post_inbound(client, body, pharmacy_id=other_pharmacy.ncpdp_id, secret="elsewhere-secret")
    assert r.status_code == 400 and b"cannot identify" in r.content
    assert not InboxItem.objects.exists()
    [event] = AccessEvent.objects.filter(id__gt=since, outcome="denied", patient_id=patient.pk)
    assert event.actor is None and event.channel == "ncpdp" and event.detail["pharmacy"] == "7777777"


def test_approving_never_sends_to_another_pharmacy(clinician, patient, catalog, pharmacies, other_pharmacy):
    """Defence in depth: an item that (somehow) names another pharmacy is refused before anything is built."""
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    item = InboxItem.objects.create(
        kind="renewal",
        message_id="e" * 32,
        pharmacy=other_pharmacy,
        prescriber=clinician,
        patient=patient,
        prescription=rx,
        payload=renewal_xml(rx, pharmacy_id=other_pharmacy.ncpdp_id),
        summary="Renewal request",
    )
    with pytest.raises(PermissionDenied):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, password=PASSWORD)
    assert not OutboundMessage.objects.filter(message_type=ncpdp.RX_RENEWAL_RESPONSE).exists()


# ------------------------------------------------------------------ item 4: renewals
def test_renewal_approval_creates_a_linked_prescription(
    client, clinician, patient, catalog, pharmacies, simulator
):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"], refills=1)
    assert post_inbound(client, renewal_xml(rx, refills=3)).status_code == 200
    item = InboxItem.objects.get()
    with pytest.raises(ValidationError, match="Password"):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, password="wrong")
    renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, password=PASSWORD)
    new = Prescription.objects.get(replaces=rx)
    rx.refresh_from_db()
    assert rx.status == RxStatus.RENEWED and new.status == RxStatus.QUEUED
    assert (new.medication, new.refills, new.patient, new.pharmacy) == (
        rx.medication,
        3,
        patient,
        rx.pharmacy,
    )
    assert new.prescriber_order_number != rx.prescriber_order_number
    response = OutboundMessage.objects.get(message_type=ncpdp.RX_RENEWAL_RESPONSE)
    assert response.prescription == new
    assert outbox.outbound_send(response.pk) == "acknowledged"
    new.refresh_from_db()
    assert new.status == RxStatus.DELIVERED
    [seen] = [m for m in simulator.stats()["messages"] if m["message_type"] == "RxRenewalResponse"]
    assert (seen["outcome"], seen["refills"], seen["relates_to_message_id"]) == (
        "approved",
        "3",
        item.message_id,
    )
    assert seen["prescriber_order_number"] == new.prescriber_order_number


def test_schedule_ii_renewal_carries_no_refills_and_needs_totp_and_dea(
    client, clinician, patient, catalog, pharmacies, simulator
):
    """Bug: a C48675 renewal asking for 3 refills was approved with 3."""
    _, secret = totp_device(clinician)
    rx = signed_rx(
        clinician, patient, catalog["1049621"], pharmacies["electronic"], totp_code=totp_now(secret)
    )
    assert post_inbound(client, renewal_xml(rx, refills=3, dea_schedule="C48675")).status_code == 200
    item = InboxItem.objects.get()
    with pytest.raises(ValidationError, match="authenticator"):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, password=PASSWORD)
    with pytest.raises(ValidationError, match="at most|Schedule II"):
        renewals.inbox_respond(
            actor=clinician, item_id=item.pk, approve=True, refills=3, password=PASSWORD, totp_code="000000"
        )
    practitioner = clinician.practitioner
    practitioner.dea_expires = datetime.date(2000, 1, 1)
    practitioner.save()
    with pytest.raises(ValidationError, match="DEA"):
        renewals.inbox_respond(
            actor=clinician, item_id=item.pk, approve=True, password=PASSWORD, totp_code="1"
        )
    practitioner.dea_expires = None
    practitioner.save()
    renewals.inbox_respond(
        actor=clinician,
        item_id=item.pk,
        approve=True,
        password=PASSWORD,
        totp_code=totp_now(secret, at=datetime.datetime.now().timestamp() + 30),
    )
    new = Prescription.objects.get(replaces=rx)
    assert (new.refills, new.dea_schedule) == (0, "II")
    response = OutboundMessage.objects.get(message_type=ncpdp.RX_RENEWAL_RESPONSE)
    parsed = ncpdp_parse.parse_message(bytes(response.payload))
    assert (parsed.fields["outcome"], parsed.fields["refills"]) == ("approved_with_changes", "0")
    assert parsed.fields["dea_schedule"] == "C48675"
    assert outbox.outbound_send(response.pk) == "acknowledged"


def test_schedule_iv_renewal_capped_at_five(client, clinician, patient, catalog, pharmacies):
    med = catalog["314076"]
    med.dea_schedule = "IV"
    med.save()
    _, secret = totp_device(clinician)
    rx = signed_rx(clinician, patient, med, pharmacies["electronic"], totp_code=totp_now(secret))
    assert post_inbound(client, renewal_xml(rx, refills=8)).status_code == 200
    item = InboxItem.objects.get()
    renewals.inbox_respond(
        actor=clinician,
        item_id=item.pk,
        approve=True,
        password=PASSWORD,
        totp_code=totp_now(secret, at=datetime.datetime.now().timestamp() + 30),
    )
    assert Prescription.objects.get(replaces=rx).refills == 5


def test_renewal_denial_needs_a_reason(client, clinician, patient, catalog, pharmacies):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    post_inbound(client, renewal_xml(rx))
    item = InboxItem.objects.get()
    with pytest.raises(ValidationError):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=False, reason_code="ZZ")
    renewals.inbox_respond(
        actor=clinician, item_id=item.pk, approve=False, reason_code="AM", note="book a visit"
    )
    parsed = ncpdp_parse.parse_message(
        bytes(OutboundMessage.objects.get(message_type="RxRenewalResponse").payload)
    )
    assert (parsed.fields["outcome"], parsed.fields["reason_codes"]) == ("denied", ["AM"])
    assert not Prescription.objects.filter(replaces=rx).exists()


# ------------------------------------------------------------------ item 3: changes, end to end
@pytest.mark.worker
def test_change_request_from_the_simulator_to_the_response_it_receives(
    transactional_db, live_server, clinician, patient, catalog, pharmacies, live_simulator
):
    simulator = live_simulator  # its /control/send-* may reach only this live server
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    outbox.outbound_send(OutboundMessage.objects.get(prescription=rx).pk)
    add_statement(patient, "Ibuprofen", rxcui="5640")  # warfarin + ibuprofen: a high-severity interaction
    sent = simulator.send(
        "change",
        {
            "target_url": live_server.url + reverse("prescriptions:inbound"),
            "secret": "s3cret-shared-with-the-pharmacy",
            "pharmacy_ncpdp_id": SIM_ID,
            "prescriber_order_number": rx.prescriber_order_number,
            "relates_to_message_id": _new_rx_id(rx),
            "request_code": "T",
            "prescribed": {"drug_description": rx.medication.name, "rxnorm_code": rx.medication.rxcui},
            "requested": [
                {"drug_description": "Enalapril 10 MG Oral Tablet", "rxnorm_code": "858813"},
                {
                    "drug_description": "Warfarin Sodium 5 MG Oral Tablet",
                    "rxnorm_code": "855332",
                    "quantity": "45",
                    "refills": 1,
                    "sig_text": "Take 1 tablet by mouth daily as directed",
                },
            ],
        },
    )
    assert sent["status"] == 200, sent
    item = InboxItem.objects.get()
    assert item.kind == "change" and item.prescription_id == rx.pk
    options = selectors.inbox_item_options(item=item)
    assert [o.medication is not None for o in options] == [False, True]
    with pytest.raises(ValidationError, match="Pick one"):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, password=PASSWORD)
    with pytest.raises(ValidationError, match="not in the catalog"):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, option=0, password=PASSWORD)
    with pytest.raises(signature.AlertsNeedOverride):  # the safety checks ran on the drug picked
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, option=1, password=PASSWORD)
    alert = [
        a
        for a in checks.prescription_check(patient=patient, medication=catalog["855332"])
        if a.severity == "high"
    ][0]
    renewals.inbox_respond(
        actor=clinician,
        item_id=item.pk,
        approve=True,
        option=1,
        password=PASSWORD,
        override_reasons={alert.key: "ibuprofen stopped today"},
    )
    new = Prescription.objects.get(replaces=rx)
    rx.refresh_from_db()
    assert rx.status == RxStatus.REPLACED
    assert (new.medication.rxcui, new.quantity, new.refills) == ("855332", 45, 1)
    assert new.sig_text == "Take 1 tablet by mouth daily as directed"
    assert new.override_reasons[0]["reason"] == "ibuprofen stopped today"
    response = OutboundMessage.objects.get(message_type=ncpdp.RX_CHANGE_RESPONSE)
    assert outbox.outbound_send(response.pk) == "acknowledged"
    [seen] = [m for m in simulator.stats()["messages"] if m["message_type"] == "RxChangeResponse"]
    assert seen["drug_description"] == "Warfarin Sodium 5 MG Oral Tablet" and seen["outcome"] == "approved"
    assert seen["relates_to_message_id"] == item.message_id
    new.refresh_from_db()
    assert new.status == RxStatus.DELIVERED


def test_change_denial_answers_with_the_original_drug(client, clinician, patient, catalog, pharmacies):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    post_inbound(client, change_xml(rx, [{"drug_description": "Enalapril", "rxnorm_code": "858813"}]))
    item = InboxItem.objects.get()
    renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=False, reason_code="AL")
    parsed = ncpdp_parse.parse_message(
        bytes(OutboundMessage.objects.get(message_type="RxChangeResponse").payload)
    )
    assert (parsed.fields["outcome"], parsed.fields["drug_description"]) == ("denied", rx.medication.name)
    rx.refresh_from_db()
    assert rx.status != RxStatus.REPLACED


def test_change_to_a_controlled_drug_follows_controlled_signing(
    client, clinician, patient, catalog, pharmacies
):
    rx = signed_rx(clinician, patient, catalog["197806"], pharmacies["electronic"])
    post_inbound(
        client,
        change_xml(rx, [{"drug_description": "Oxycodone 5 MG", "rxnorm_code": "1049621", "refills": 2}]),
    )
    item = InboxItem.objects.get()
    with pytest.raises(ValidationError, match="authenticator"):
        renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, option=0, password=PASSWORD)
    _, secret = totp_device(clinician)
    renewals.inbox_respond(
        actor=clinician,
        item_id=item.pk,
        approve=True,
        option=0,
        password=PASSWORD,
        totp_code=totp_now(secret),
    )
    new = Prescription.objects.get(replaces=rx)
    assert (new.dea_schedule, new.refills) == ("II", 0)


def test_inbox_item_page_shows_the_options_and_their_alerts(
    client, login, clinician, patient, catalog, pharmacies
):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    add_statement(patient, "Ibuprofen", rxcui="5640")
    post_inbound(
        client, change_xml(rx, [{"drug_description": "Warfarin Sodium 5 MG", "rxnorm_code": "855332"}])
    )
    item = InboxItem.objects.get()
    page = login(clinician).get(reverse("prescriptions:inbox_item", args=[item.pk]), {"option": 0})
    assert page.status_code == 200
    assert b'data-testid="option-0"' in page.content and b'data-testid="alert-high"' in page.content


# ------------------------------------------------------------------ item 10: the inbox re-checks access
def test_prescriber_who_lost_access_sees_nothing(client, login, clinician, patient, catalog, pharmacies):
    from patients.models import PatientUserObjectPermission

    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    post_inbound(client, renewal_xml(rx))
    item = InboxItem.objects.get()
    since = mark()
    page = login(clinician).get(reverse("prescriptions:inbox"))
    assert b"Renewal request" in page.content
    [listed] = AccessEvent.objects.filter(id__gt=since, actor=clinician, action="list")
    assert [str(p) for p in listed.patient_ids] == [str(patient.pk)]
    since = mark()
    assert login(clinician).get(reverse("prescriptions:inbox_item", args=[item.pk])).status_code == 200
    assert AccessEvent.objects.filter(
        id__gt=since, actor=clinician, action="view", patient_id=patient.pk
    ).exists()

    PatientUserObjectPermission.objects.filter(user=clinician, content_object=patient).delete()
    page = login(clinician).get(reverse("prescriptions:inbox"))
    assert b"Renewal request" not in page.content
    assert selectors.inbox_list(actor=clinician) == []
    since = mark()
    assert login(clinician).get(reverse("prescriptions:inbox_item", args=[item.pk])).status_code == 404
    assert AccessEvent.objects.filter(id__gt=since, actor=clinician, outcome="denied").exists()
    r = login(clinician).post(
        reverse("prescriptions:inbox_respond", args=[item.pk]), {"decision": "approve", "password": PASSWORD}
    )
    assert r.status_code == 404


def test_request_matched_only_by_npi_records_a_system_access_event(client, clinician, patient, pharmacies):
    give = {
        "pharmacy_ncpdp_id": SIM_ID,
        "prescriber_npi": clinician.practitioner.npi,
        "patient_last_name": patient.family_name,
        "patient_first_name": patient.given_name,
        "patient_birth_date": patient.birth_date.isoformat(),
        "refills": 1,
    }
    since = mark()
    assert post_inbound(client, build_outbound("renewal", give)[1]).status_code == 200
    item = InboxItem.objects.get()
    assert item.prescription is None and item.patient == patient and item.prescriber == clinician
    event = AccessEvent.objects.get(id__gt=since, channel="ncpdp", action="create")
    assert event.actor is None and event.patient_id == patient.pk
    assert event.detail["matched_by"] == "prescriber"
