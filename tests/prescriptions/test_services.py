"""Services: writing, safety checks, signing, the outbox and the inbound endpoint's logic."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404

from prescriptions import (
    cancelling,
    checks,
    ncpdp_parse,
    ncpdp_validate,
    outbox,
    selectors,
    services,
    signature,
)
from prescriptions.models import OutboundMessage, OutboundStatus, Prescription, RxStatus
from tests.factories import PASSWORD
from tests.prescriptions.conftest import give_address


def rx_data(med, **kw):
    data = {
        "medication_id": med.pk,
        "dose": Decimal(1),
        "dose_unit": "tablet",
        "route": "PO",
        "frequency": "BID",
        "duration_days": 10,
        "quantity": Decimal(20),
        "quantity_unit": "C48542",
        "refills": 0,
    }
    data.update(kw)
    return data


def add_statement(patient, name, rxcui=""):
    from encounters.models import MedicationStatement

    return MedicationStatement.objects.create(patient=patient, name=name, rxcui=rxcui, status="active")


def add_allergy(patient, text, rxcui=""):
    from encounters.models import Allergy

    return Allergy.objects.create(
        patient=patient, substance_text=text, substance_rxcui=rxcui, category="medication"
    )


def test_sig_render():
    assert (
        services.sig_render(
            dose=Decimal(1), dose_unit="tablet", route="PO", frequency="BID", duration_days=10
        )
        == "Take 1 tablet by mouth twice daily for 10 days"
    )
    assert (
        services.sig_render(
            dose=Decimal("2.0"),
            dose_unit="puff",
            route="INH",
            frequency="Q4H",
            as_needed=True,
            as_needed_reason="wheezing",
        )
        == "Inhale 2 puffs by inhalation every 4 hours as needed for wheezing"
    )


def test_create_draft(clinician, patient, catalog, pharmacies):
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(catalog["855332"], pharmacy=pharmacies["electronic"]),
    )
    assert rx.status == RxStatus.DRAFT
    assert rx.sig_text == "Take 1 tablet by mouth twice daily for 10 days"
    assert rx.prescriber_order_number == rx.pk.hex


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"quantity": Decimal(0)}, "quantity"),
        ({"quantity": Decimal(-5)}, "quantity"),
        ({"refills": 100}, "refills"),
        ({"medication_id": 999999}, "medication_id"),
        ({"quantity_unit": "BOTTLE"}, "quantity_unit"),
    ],
)
def test_create_rejects_bad_input(clinician, patient, catalog, bad, field):
    with pytest.raises(ValidationError) as exc:
        services.prescription_create(
            actor=clinician, patient_id=patient.pk, data=rx_data(catalog["855332"], **bad)
        )
    assert field in exc.value.message_dict
    assert not Prescription.objects.exists()


def test_schedule_ii_refills_refused_by_service_and_database(clinician, patient, catalog):
    with pytest.raises(ValidationError, match="Schedule II"):
        services.prescription_create(
            actor=clinician, patient_id=patient.pk, data=rx_data(catalog["1049621"], refills=1)
        )
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog["1049621"])
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Prescription.objects.filter(pk=rx.pk).update(refills=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Prescription.objects.filter(pk=rx.pk).update(quantity=0)


def test_outsider_and_nurse_cannot_prescribe(colleague, nurse, patient, catalog):
    for user in (colleague, nurse):
        with pytest.raises(Http404):
            services.prescription_create(actor=user, patient_id=patient.pk, data=rx_data(catalog["855332"]))


def test_drug_drug_alert_from_active_medication(patient, catalog):
    add_statement(patient, "Ibuprofen 200 MG Oral Tablet (OTC)")  # no RxCUI: matched by name
    alerts = checks.prescription_check(patient=patient, medication=catalog["855332"])
    assert [a.severity for a in alerts] == ["high"]
    assert "warfarin + ibuprofen" in alerts[0].message
    low = checks.prescription_check(patient=patient, medication=catalog["314076"])
    assert [a.severity for a in low] == ["low"]


def test_allergy_alerts_by_ingredient_and_class(patient, catalog):
    add_allergy(patient, "Penicillin")
    alerts = checks.prescription_check(patient=patient, medication=catalog["308182"])
    assert alerts and alerts[0].source == "drug-allergy" and "penicillins" in alerts[0].message
    add_allergy(patient, "Ibuprofen", rxcui="5640")
    assert any(
        a.source == "drug-allergy"
        for a in checks.prescription_check(patient=patient, medication=catalog["197806"])
    )


def test_duplicate_therapy(patient, catalog):
    add_statement(patient, "Ibuprofen 600 MG Oral Tablet", rxcui="197806")
    alerts = checks.prescription_check(patient=patient, medication=catalog["197806"])
    assert [a.source for a in alerts] == ["duplicate-therapy"]


def _draft(clinician, patient, med, pharmacy, **kw):
    give_address(patient)
    return services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(med, pharmacy=pharmacy, **kw)
    )


def test_sign_needs_password_and_override(
    clinician, patient, catalog, pharmacies, django_capture_on_commit_callbacks
):
    add_statement(patient, "Ibuprofen", rxcui="5640")
    rx = _draft(clinician, patient, catalog["855332"], pharmacies["electronic"])
    with pytest.raises(ValidationError, match="Password"):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password="wrong")
    with pytest.raises(signature.AlertsNeedOverride):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    alert = checks.prescription_check(patient=patient, medication=catalog["855332"])[0]
    with django_capture_on_commit_callbacks() as callbacks:
        signature.prescription_sign(
            actor=clinician,
            prescription_id=rx.pk,
            password=PASSWORD,
            override_reasons={alert.key: "INR monitored weekly"},
        )
    assert len(callbacks) == 1  # the transmit task is queued only after commit
    rx.refresh_from_db()
    assert rx.status == RxStatus.QUEUED and rx.override_reasons[0]["reason"] == "INR monitored weekly"
    msg = OutboundMessage.objects.get(prescription=rx)
    assert ncpdp_validate.validate_new_rx(bytes(msg.payload)) == []
    from audit.models import AccessEvent

    event = AccessEvent.objects.filter(action="sign", patient_id=patient.pk).latest("pk")
    assert event.detail["overrides"][0]["reason"] == "INR monitored weekly"


def test_controlled_substance_needs_totp(clinician, patient, catalog, pharmacies):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import totp_now

    device = TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)
    rx = _draft(clinician, patient, catalog["1049621"], pharmacies["electronic"])
    with pytest.raises(ValidationError, match="authenticator"):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    import base64

    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    signature.prescription_sign(
        actor=clinician, prescription_id=rx.pk, password=PASSWORD, totp_code=totp_now(secret)
    )
    rx.refresh_from_db()
    assert rx.status == RxStatus.QUEUED


def test_controlled_substance_needs_valid_dea(clinician, patient, catalog, pharmacies):
    import datetime

    clinician.practitioner.dea_expires = datetime.date(2000, 1, 1)
    clinician.practitioner.save()
    rx = _draft(clinician, patient, catalog["1049621"], pharmacies["electronic"])
    with pytest.raises(ValidationError, match="DEA"):
        signature.prescription_sign(
            actor=clinician, prescription_id=rx.pk, password=PASSWORD, totp_code="123456"
        )


def test_outbound_send_delivers_and_never_resends(clinician, patient, catalog, pharmacies, simulator):
    rx = _draft(clinician, patient, catalog["314076"], pharmacies["electronic"])
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    msg = OutboundMessage.objects.get(prescription=rx)
    assert outbox.outbound_send(msg.pk) == "acknowledged"
    assert outbox.outbound_send(msg.pk) == "skipped"
    rx.refresh_from_db()
    assert rx.status == RxStatus.DELIVERED
    assert [e.status for e in rx.events.all()] == ["draft", "signed", "queued", "delivered"]
    stats = simulator.stats()
    assert stats["unique_received"] == 1 and stats["prescriber_order_numbers"] == [rx.prescriber_order_number]


def test_outbound_transient_then_permanent(clinician, patient, catalog, pharmacies, simulator):
    rx = _draft(clinician, patient, catalog["314076"], pharmacies["electronic"])
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    msg = OutboundMessage.objects.get(prescription=rx)
    simulator.mode(fail_rate=1.0)
    assert outbox.outbound_send(msg.pk) == "retry"
    msg.refresh_from_db()
    assert msg.status == OutboundStatus.PENDING and msg.attempts == 1 and "503" in msg.last_error
    simulator.mode(fail_rate=0.0, permanent_error_for=[rx.prescriber_order_number])
    assert outbox.outbound_send(msg.pk) == "rejected"
    rx.refresh_from_db()
    assert rx.status == RxStatus.NEEDS_ATTENTION and "permanent_error_for" in rx.status_reason


def test_outbound_connection_refused_is_transient(clinician, patient, catalog, pharmacies):
    pharmacies["electronic"].endpoint = "http://127.0.0.1:9/ncpdp"
    pharmacies["electronic"].save()
    rx = _draft(clinician, patient, catalog["314076"], pharmacies["electronic"])
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    assert outbox.outbound_send(OutboundMessage.objects.get(prescription=rx).pk) == "retry"


def test_fax_pharmacy_stays_signed_for_printing(clinician, patient, catalog, pharmacies):
    rx = _draft(clinician, patient, catalog["314076"], pharmacies["fax"])
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    rx.refresh_from_db()
    assert rx.status == RxStatus.SIGNED and not OutboundMessage.objects.filter(prescription=rx).exists()
    from prescriptions.printing import prescription_pdf

    assert prescription_pdf(
        Prescription.objects.select_related("patient", "medication").get(pk=rx.pk)
    ).startswith(b"%PDF")


def test_cancel_sends_cancel_rx(clinician, patient, catalog, pharmacies, simulator):
    rx = _draft(clinician, patient, catalog["314076"], pharmacies["electronic"])
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    new_rx = OutboundMessage.objects.get(prescription=rx)
    outbox.outbound_send(new_rx.pk)
    cancelling.prescription_cancel(actor=clinician, prescription_id=rx.pk)
    cancel = OutboundMessage.objects.get(prescription=rx, message_type="CancelRx")
    assert ncpdp_parse.parse_message(bytes(cancel.payload)).relates_to_message_id == new_rx.message_id
    assert outbox.outbound_send(cancel.pk) == "acknowledged"
    rx.refresh_from_db()
    assert rx.status == RxStatus.CANCEL_REQUESTED


def test_load_catalog_is_idempotent(db):
    from django.core.management import call_command

    from prescriptions.models import Interaction, Medication

    call_command("load_catalog")
    counts = (Medication.objects.count(), Interaction.objects.count())
    call_command("load_catalog")
    assert (Medication.objects.count(), Interaction.objects.count()) == counts
    assert counts[0] == 6288 and counts[1] > 1000
    assert Medication.objects.filter(dea_schedule="II").exists()
    assert selectors.medication_search(q="warfarin")
