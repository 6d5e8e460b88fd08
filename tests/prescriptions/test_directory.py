"""Item: the pharmacy directory (search, admin validation), the preferred pharmacy set from the chart, and
Pharmacy.accepts respected for every message type."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AccessEvent
from prescriptions import cancelling, ncpdp, needs_attention, outbox, renewals, services
from prescriptions.models import OutboundMessage, PatientPharmacy, Pharmacy, RxStatus
from tests.audit.helpers import mark
from tests.factories import PASSWORD
from tests.prescriptions.conftest import give_address, rx_data, signed_rx


def _pharmacy(**kw):
    fields = dict(
        ncpdp_id="2345678",
        npi="1234567893",
        name="Valid Pharmacy",
        is_electronic=True,
        endpoint="https://pharmacy.example/ncpdp",
        accepts=["NewRx"],
    )
    fields.update(kw)
    return Pharmacy(**fields)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"ncpdp_id": "123456"}, "ncpdp_id"),
        ({"ncpdp_id": "12345a7"}, "ncpdp_id"),
        ({"npi": "1234567890"}, "npi"),  # check digit does not match
        ({"endpoint": "ftp://pharmacy.example/"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"endpoint": ""}, "endpoint"),  # electronic without an endpoint
        ({"accepts": ["NewRx", "Fax"]}, "accepts"),
        ({"accepts": []}, "accepts"),  # electronic accepting nothing
    ],
)
def test_pharmacy_validation(db, bad, field):
    _pharmacy().full_clean()
    with pytest.raises(ValidationError) as exc:
        _pharmacy(**bad).full_clean()
    assert field in exc.value.message_dict


def test_admin_form_validates_and_keeps_the_secret(db, admin_user):
    from prescriptions.admin import PharmacyAdminForm

    assert admin_user.has_perm("prescriptions.change_pharmacy")
    data = {
        "ncpdp_id": "2345678",
        "npi": "1234567890",
        "name": "New Pharmacy",
        "is_electronic": "on",
        "endpoint": "https://pharmacy.example/ncpdp",
        "accepts": ["NewRx", "CancelRx"],
        "inbound_secret": "first-secret",
    }
    form = PharmacyAdminForm(data)
    assert not form.is_valid() and "npi" in form.errors
    form = PharmacyAdminForm({**data, "npi": "1234567893"})
    assert form.is_valid(), form.errors
    pharmacy = form.save()
    form = PharmacyAdminForm({**data, "npi": "1234567893", "inbound_secret": ""}, instance=pharmacy)
    assert form.is_valid(), form.errors
    assert form.save().inbound_secret == "first-secret"  # blank keeps the stored secret


def test_admin_pages_for_practice_admin_only(login, admin_user, clinician, db):
    assert not clinician.has_perm("prescriptions.change_pharmacy")
    assert login(admin_user).get(reverse("admin:prescriptions_pharmacy_add")).status_code == 200
    assert login(clinician).get(reverse("admin:prescriptions_pharmacy_add")).status_code in (302, 403)


def test_directory_search(login, front_desk, pharmacies):
    c = login(front_desk)
    url = reverse("prescriptions:pharmacy_directory")
    page = c.get(url, {"q": "springfield"})
    assert page.status_code == 200 and b"Simulated Pharmacy" in page.content
    page = c.get(url, {"q": "7654"})
    assert b"Corner Drugstore" in page.content and b"Simulated Pharmacy" not in page.content
    page = c.get(url, {"q": "corner"})
    assert b"Corner Drugstore" in page.content and b"Simulated Pharmacy" not in page.content


def test_set_preferred_pharmacy_from_the_chart(login, front_desk, colleague, patient, pharmacies):
    chart = login(front_desk).get(reverse("patients:detail", args=[patient.pk]))
    assert b'data-testid="change-pharmacy"' in chart.content
    url = reverse("prescriptions:pharmacy_choose", args=[patient.pk])
    page = login(front_desk).get(url, {"q": "corner"})
    assert page.status_code == 200 and b"Corner Drugstore" in page.content
    since = mark()
    r = login(front_desk).post(url, {"pharmacy_id": pharmacies["fax"].pk})
    assert r.status_code == 302
    assert PatientPharmacy.objects.get(patient=patient).pharmacy == pharmacies["fax"]
    events = AccessEvent.objects.filter(id__gt=since, patient_id=patient.pk)
    assert events.filter(actor=front_desk, action="update", detail__preferred_pharmacy="7654321").exists()
    assert events.filter(channel="write").exists()  # django-auditlog saw the write too
    chart = login(front_desk).get(reverse("patients:detail", args=[patient.pk]))
    assert b"Corner Drugstore" in chart.content
    # An outsider: 404 and a denied event; nothing changes.
    since = mark()
    assert login(colleague).post(url, {"pharmacy_id": pharmacies["electronic"].pk}).status_code == 404
    assert AccessEvent.objects.filter(id__gt=since, actor=colleague, outcome="denied").exists()
    assert PatientPharmacy.objects.get(patient=patient).pharmacy == pharmacies["fax"]
    assert login(front_desk).post(url, {"pharmacy_id": 999999}).status_code == 404


def test_preferred_pharmacy_is_the_default_for_new_prescriptions(
    clinician, front_desk, patient, catalog, pharmacies
):
    services.pharmacy_set_preferred(actor=front_desk, patient_id=patient.pk, pharmacy_id=pharmacies["fax"].pk)
    rx = services.prescription_create(actor=clinician, patient_id=patient.pk, data=rx_data(catalog["314076"]))
    assert rx.pharmacy == pharmacies["fax"]


def test_new_rx_not_accepted_goes_to_print(clinician, patient, catalog, pharmacies):
    pharmacy = pharmacies["electronic"]
    pharmacy.accepts = ["CancelRx"]
    pharmacy.save()
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacy)
    assert rx.status == RxStatus.SIGNED and not OutboundMessage.objects.filter(prescription=rx).exists()
    assert "does not accept NewRx" in rx.events.last().detail


def test_cancel_rx_not_accepted_needs_attention_then_resolved_by_phone(
    clinician, nurse, patient, catalog, pharmacies, simulator
):
    pharmacy = pharmacies["electronic"]
    pharmacy.accepts = ["NewRx"]
    pharmacy.save()
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacy)
    outbox.outbound_send(OutboundMessage.objects.get(prescription=rx).pk)
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    rx.refresh_from_db()
    assert rx.status == RxStatus.NEEDS_ATTENTION and "does not accept CancelRx" in rx.status_reason
    cancel = OutboundMessage.objects.get(prescription=rx, message_type=ncpdp.CANCEL_RX)
    assert cancel.status == "needs_attention"
    assert outbox.outbound_send(cancel.pk) == "skipped"  # never sent
    with pytest.raises(ValidationError, match="does not accept CancelRx"):
        needs_attention.outbound_retry(actor=nurse, message_id=cancel.pk)
    needs_attention.outbound_resolve(actor=nurse, message_id=cancel.pk, note="phoned the pharmacist")
    rx.refresh_from_db()
    assert rx.status == RxStatus.CANCELLED
    assert simulator.stats()["by_type"] == {"NewRx": 1}


def test_response_not_accepted_takes_the_print_path(client, clinician, patient, catalog, pharmacies):
    from prescriptions.models import InboxItem, Prescription
    from tests.prescriptions.conftest import post_inbound
    from tests.prescriptions.test_inbox import renewal_xml

    pharmacy = pharmacies["electronic"]
    pharmacy.accepts = ["NewRx", "CancelRx"]
    pharmacy.save()
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacy)
    give_address(patient)
    assert post_inbound(client, renewal_xml(rx)).status_code == 200
    item = InboxItem.objects.get()
    renewals.inbox_respond(actor=clinician, item_id=item.pk, approve=True, password=PASSWORD)
    new = Prescription.objects.get(replaces=rx)
    assert new.status == RxStatus.SIGNED  # printable
    assert not OutboundMessage.objects.filter(message_type=ncpdp.RX_RENEWAL_RESPONSE).exists()
    assert "does not accept RxRenewalResponse" in new.events.last().detail
