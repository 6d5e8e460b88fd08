"""Views: prescribe form, sign, detail/status, inbox, attention queue, the inbound endpoint."""

import pytest
from django.urls import reverse

from prescriptions import ncpdp, ncpdp_parse, signing
from prescriptions.models import InboxItem, OutboundMessage, Prescription
from tests.factories import PASSWORD
from tests.prescriptions.conftest import give_address


def _form(med, pharmacy, **kw):
    data = {
        "medication_id": med.pk,
        "dose": "1",
        "dose_unit": "tablet",
        "route": "PO",
        "frequency": "BID",
        "duration_days": "10",
        "quantity": "20",
        "quantity_unit": "C48542",
        "refills": "0",
        "substitution_allowed": "on",
        "pharmacy": pharmacy.pk,
    }
    data.update(kw)
    return data


def test_prescribe_and_sign(
    login, clinician, patient, catalog, pharmacies, django_capture_on_commit_callbacks
):
    give_address(patient)
    c = login(clinician)
    url = reverse("prescriptions:new", args=[patient.pk])
    assert c.get(url).status_code == 200
    r = c.post(url, _form(catalog["314076"], pharmacies["electronic"]))
    assert r.status_code == 302
    rx = Prescription.objects.get(patient=patient)
    page = c.get(r.url)
    assert b"Take 1 tablet by mouth twice daily for 10 days" in page.content
    r = c.post(r.url, {"password": "wrong"})
    assert b"Password incorrect" in r.content
    r = c.post(reverse("prescriptions:sign", args=[rx.pk]), {"password": PASSWORD})
    assert r.status_code == 302 and r.url == rx.get_absolute_url()
    rx.refresh_from_db()
    assert rx.status == "queued" and OutboundMessage.objects.filter(prescription=rx).count() == 1
    detail = c.get(rx.get_absolute_url())
    assert b'hx-headers=\'{"X-Background-Poll": "1"}\'' in detail.content
    assert c.get(reverse("prescriptions:status", args=[rx.pk])).status_code == 200


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"quantity": "0"}, b"Quantity must be more than zero"),
        ({"quantity": "-3"}, b"Quantity must be more than zero"),
        ({"refills": "120"}, b"Refills must be 0-99"),
        ({"medication_id": "999999"}, b"Unknown drug"),
    ],
)
def test_prescribe_bad_input(login, clinician, patient, catalog, pharmacies, bad, message):
    c = login(clinician)
    r = c.post(
        reverse("prescriptions:new", args=[patient.pk]),
        _form(catalog["314076"], pharmacies["electronic"], **bad),
    )
    assert r.status_code == 200 and message in r.content
    assert not Prescription.objects.exists()


def test_outsider_gets_404_everywhere(login, clinician, colleague, patient, catalog, pharmacies):
    from prescriptions import services

    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data={**_form(catalog["314076"], pharmacies["electronic"]), "pharmacy": pharmacies["electronic"]},
    )
    c = login(colleague)
    for name in ("detail", "status", "sign", "print", "pdf"):
        assert c.get(reverse(f"prescriptions:{name}", args=[rx.pk])).status_code == 404, name
    assert c.post(reverse("prescriptions:cancel", args=[rx.pk])).status_code == 404
    assert c.get(reverse("prescriptions:new", args=[patient.pk])).status_code == 404


def test_nurse_reads_but_cannot_prescribe(login, nurse, clinician, patient, catalog, pharmacies):
    from prescriptions import services

    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data={**_form(catalog["314076"], pharmacies["electronic"]), "pharmacy": pharmacies["electronic"]},
    )
    c = login(nurse)
    assert c.get(rx.get_absolute_url()).status_code == 200
    # She may see the patient: told she may not prescribe (403), not hidden as from an outsider.
    assert c.get(reverse("prescriptions:new", args=[patient.pk])).status_code == 403
    assert c.get(reverse("prescriptions:sign", args=[rx.pk])).status_code == 403


def test_wrong_method(login, clinician):
    c = login(clinician)
    assert c.get(reverse("prescriptions:inbound")).status_code == 405
    assert c.post(reverse("prescriptions:inbox")).status_code == 405


def test_medication_search(login, clinician, catalog):
    r = login(clinician).get(reverse("prescriptions:medication_search"), {"q": "warf"})
    assert b"Warfarin Sodium 5 MG Oral Tablet" in r.content


def test_attention_lists_only_patients_whose_chart_the_user_may_open(
    login, clinician, colleague, admin_user, nurse, sent_rx, other_patient, catalog, pharmacies
):
    """The queue went through is_staff only and showed every patient's drug; now the one door decides, and one
    access event names the patients shown."""
    from audit.models import AccessEvent
    from tests.audit.helpers import mark

    outside = Prescription.objects.create(
        patient=other_patient,
        prescriber=clinician,
        medication=catalog["855332"],
        dose=1,
        dose_unit="tablet",
        frequency="QD",
        sig_text="Take 1 tablet by mouth once daily",
        quantity=30,
        quantity_unit="C48542",
        prescriber_order_number="OUTSIDE-1",
        status="needs_attention",
    )
    OutboundMessage.objects.filter(prescription=sent_rx).update(
        status="needs_attention", last_error="Error 900"
    )
    # A needs-attention message about a patient nobody here treats.
    OutboundMessage.objects.create(
        prescription=outside,
        patient=other_patient,
        message_type="NewRx",
        message_id="f" * 32,
        payload=b"",
        endpoint="http://127.0.0.1:9/",
        status="needs_attention",
        last_error="Error 900 other",
    )
    since = mark()
    page = login(clinician).get(reverse("prescriptions:attention"))
    assert page.status_code == 200
    assert b"Lisinopril 10 MG Oral Tablet" in page.content and b"Warfarin" not in page.content
    [event] = AccessEvent.objects.filter(id__gt=since, action="list", actor=clinician)
    assert [str(p) for p in event.patient_ids] == [str(sent_rx.patient_id)]
    for outsider in (colleague, admin_user):
        page = login(outsider).get(reverse("prescriptions:attention"))
        assert page.status_code == 200 and b"Lisinopril" not in page.content
    msg = OutboundMessage.objects.get(prescription=sent_rx)
    assert login(admin_user).post(reverse("prescriptions:attention_retry", args=[msg.pk])).status_code == 404
    assert login(colleague).post(reverse("prescriptions:attention_resolve", args=[msg.pk])).status_code == 404
    r = login(nurse).post(reverse("prescriptions:attention_retry", args=[msg.pk]))
    assert r.status_code == 302
    msg.refresh_from_db()
    assert msg.status == "pending"
    assert AccessEvent.objects.filter(action="transmit", actor=nurse, patient_id=sent_rx.patient_id).exists()


# ------------------------------------------------------------------ inbound
def _renewal_xml(order_number: str, message_id: str | None = None) -> bytes:
    from pharmacy_sim.outbound import build_outbound

    _, xml = build_outbound(
        "renewal",
        {
            "pharmacy_ncpdp_id": "1234567",
            "prescriber_order_number": order_number,
            "message_id": message_id or ncpdp.new_message_id(),
            "refills": 2,
        },
    )
    return xml


def _post(client, body, secret="s3cret-shared-with-the-pharmacy", headers=None):
    headers = headers or signing.sign_request(secret, body, pharmacy_id="1234567")
    return client.post(
        reverse("prescriptions:inbound"), data=body, content_type="application/xml", headers=headers
    )


@pytest.fixture
def sent_rx(clinician, patient, catalog, pharmacies):
    from prescriptions import services, signature

    give_address(patient)
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data={**_form(catalog["314076"], pharmacies["electronic"]), "pharmacy": pharmacies["electronic"]},
    )
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    return rx


def test_inbound_renewal_lands_in_inbox_once(client, login, clinician, sent_rx):
    body = _renewal_xml(sent_rx.prescriber_order_number)
    r = _post(client, body)
    assert r.status_code == 200 and b"<Status>" in r.content
    assert _post(client, body).status_code == 200  # the network re-delivers: same MessageID, one item
    assert InboxItem.objects.count() == 1
    page = login(clinician).get(reverse("prescriptions:inbox"))
    assert b"Renewal request" in page.content


def test_inbound_bad_signature_401(client, sent_rx):
    r = _post(client, _renewal_xml(sent_rx.prescriber_order_number), secret="not-the-secret")
    assert r.status_code == 401 and not InboxItem.objects.exists()


def test_inbound_replay_409(client, sent_rx):
    body = _renewal_xml(sent_rx.prescriber_order_number)
    headers = signing.sign_request("s3cret-shared-with-the-pharmacy", body, pharmacy_id="1234567")
    assert _post(client, body, headers=headers).status_code == 200
    assert _post(client, body, headers=headers).status_code == 409
    assert InboxItem.objects.count() == 1


def test_inbound_malformed_xml_400(client, sent_rx):
    r = _post(client, b"<Message><Header>")
    assert r.status_code == 400 and b"<Error>" in r.content and b"<Code>900</Code>" in r.content
    assert not InboxItem.objects.exists()


def test_inbound_unidentifiable_400(client, sent_rx):
    r = _post(client, _renewal_xml("no-such-order"))
    assert r.status_code == 400 and b"cannot identify" in r.content


def test_inbox_approve_sends_response(client, login, clinician, sent_rx):
    _post(client, _renewal_xml(sent_rx.prescriber_order_number))
    item = InboxItem.objects.get()
    c = login(clinician)
    assert c.get(reverse("prescriptions:inbox_item", args=[item.pk])).status_code == 200
    r = c.post(reverse("prescriptions:inbox_respond", args=[item.pk]), {"decision": "approve"})
    assert r.status_code == 400 and b"Password incorrect" in r.content  # approving is signing
    r = c.post(
        reverse("prescriptions:inbox_respond", args=[item.pk]), {"decision": "approve", "password": PASSWORD}
    )
    assert r.status_code == 302
    msg = OutboundMessage.objects.get(message_type="RxRenewalResponse")
    parsed = ncpdp_parse.parse_message(bytes(msg.payload))
    assert parsed.relates_to_message_id == item.message_id and parsed.fields["outcome"] == "approved"


def test_chart_section_lists_prescriptions(login, clinician, nurse, patient, catalog, pharmacies):
    from prescriptions import services

    services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data={**_form(catalog["314076"], pharmacies["electronic"]), "pharmacy": pharmacies["electronic"]},
    )
    page = login(clinician).get(reverse("patients:detail", args=[patient.pk]))
    assert b"Lisinopril 10 MG Oral Tablet" in page.content and b'data-testid="prescribe-link"' in page.content
    page = login(nurse).get(reverse("patients:detail", args=[patient.pk]))
    assert (
        b"Lisinopril 10 MG Oral Tablet" in page.content
        and b'data-testid="prescribe-link"' not in page.content
    )


def test_inbox_and_attention_pages_run_a_constant_number_of_queries(
    client, login, clinician, sent_rx, catalog, pharmacies, django_assert_max_num_queries
):
    """Pages whose rows grow: the same query count for 1 or 6 rows."""
    from prescriptions import services, signature
    from prescriptions.models import OutboundMessage as Msg

    c = login(clinician)

    def counts():
        with django_assert_max_num_queries(40) as inbox_ctx:
            c.get(reverse("prescriptions:inbox"))
        with django_assert_max_num_queries(40) as attention_ctx:
            c.get(reverse("prescriptions:attention"))
        return len(inbox_ctx.captured_queries), len(attention_ctx.captured_queries)

    _post(client, _renewal_xml(sent_rx.prescriber_order_number))
    Msg.objects.filter(prescription=sent_rx).update(status="needs_attention")
    few = counts()
    for _ in range(5):
        rx = services.prescription_create(
            actor=clinician,
            patient_id=sent_rx.patient_id,
            data={**_form(catalog["314076"], pharmacies["electronic"]), "pharmacy": pharmacies["electronic"]},
        )
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
        _post(client, _renewal_xml(rx.prescriber_order_number))
        Msg.objects.filter(prescription=rx).update(status="needs_attention")
    assert counts() == few
