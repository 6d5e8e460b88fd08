"""Prescribing rules: refill limits per DEA schedule, the diagnosis against ICD-10-CM, the SPI in the header,
one retry budget, and the order of the signing checks (a refusal never burns the one-time code)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from encounters.models import Icd10Code
from prescriptions import checks, ncpdp_parse, outbox, selectors, services, signature, tasks
from prescriptions.models import OutboundMessage, PrescriberSpi, Prescription, RxStatus, refill_limit
from tests.conftest import totp_now
from tests.factories import PASSWORD
from tests.prescriptions.conftest import give_address, rx_data, signed_rx, totp_device
from tests.prescriptions.test_services import add_statement


@pytest.fixture
def schedules(catalog):
    """Lisinopril as if Schedule IV (the tiny catalog has only one controlled drug, oxycodone, CII)."""
    med = catalog["314076"]
    med.dea_schedule = "IV"
    med.save(update_fields=["dea_schedule"])
    return catalog


def test_refill_limits_per_schedule():
    assert [refill_limit(s) for s in ("", "II", "III", "IV", "V")] == [99, 0, 5, 5, 5]


def test_schedule_iii_v_at_most_five_refills_service_and_database(clinician, patient, schedules):
    with pytest.raises(ValidationError, match="at most 5 refills"):
        services.prescription_create(
            actor=clinician, patient_id=patient.pk, data=rx_data(schedules["314076"], refills=6)
        )
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(schedules["314076"], refills=5)
    )
    assert rx.dea_schedule == "IV" and rx.refills == 5
    with pytest.raises(IntegrityError), transaction.atomic():
        Prescription.objects.filter(pk=rx.pk).update(refills=6)


def test_totp_code_survives_a_refusal_for_a_missing_override(clinician, patient, catalog, pharmacies):
    """Bug: the code was verified (and so consumed) before the alert check; the retry with the reason then
    failed with "enter the current code"."""
    from prescriptions.catalog import catalog_import_interactions

    catalog_import_interactions(
        pairs=[
            {
                "source": "test",
                "severity": "high",
                "description": "opioid + NSAID (test pair)",
                "drug_a": {"key": "oxycodone"},
                "drug_b": {"key": "ibuprofen"},
            }
        ]
    )
    give_address(patient)
    add_statement(patient, "Ibuprofen", rxcui="5640")
    _, secret = totp_device(clinician)
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(catalog["1049621"], pharmacy=pharmacies["electronic"]),
    )
    code = totp_now(secret)
    with pytest.raises(signature.AlertsNeedOverride):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD, totp_code=code)
    alert = [
        a
        for a in checks.prescription_check(patient=patient, medication=catalog["1049621"])
        if a.severity == "high"
    ][0]
    signature.prescription_sign(
        actor=clinician,
        prescription_id=rx.pk,
        password=PASSWORD,
        totp_code=code,  # the same code: nothing consumed it
        override_reasons={alert.key: "pain after surgery; ibuprofen stopped"},
    )
    rx.refresh_from_db()
    assert rx.status == RxStatus.QUEUED


def test_wrong_password_does_not_burn_the_code(clinician, patient, catalog, pharmacies):
    _, secret = totp_device(clinician)
    give_address(patient)
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(catalog["1049621"], pharmacy=pharmacies["electronic"]),
    )
    code = totp_now(secret)
    with pytest.raises(ValidationError, match="Password"):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password="wrong", totp_code=code)
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD, totp_code=code)


def test_diagnosis_is_checked_against_icd10_and_sent_with_its_description(
    clinician, patient, catalog, pharmacies
):
    Icd10Code.objects.create(code="I10", description="Essential (primary) hypertension")
    Icd10Code.objects.create(code="E11.9", description="Type 2 diabetes mellitus without complications")
    with pytest.raises(ValidationError) as exc:
        services.prescription_create(
            actor=clinician, patient_id=patient.pk, data=rx_data(catalog["314076"], diagnosis="Z99.999")
        )
    assert "ICD-10-CM" in exc.value.message_dict["diagnosis"][0]
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"], diagnosis="e119")
    assert (rx.diagnosis, rx.diagnosis_description) == (
        "E11.9",
        "Type 2 diabetes mellitus without complications",
    )
    parsed = ncpdp_parse.parse_message(bytes(OutboundMessage.objects.get(prescription=rx).payload))
    assert parsed.fields["diagnosis_code"] == "E119"
    assert parsed.fields["diagnosis_description"] == "Type 2 diabetes mellitus without complications"


def test_header_from_carries_the_spi_not_the_npi(clinician, colleague, patient, catalog, pharmacies):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    parsed = ncpdp_parse.parse_message(bytes(OutboundMessage.objects.get(prescription=rx).payload))
    npi = clinician.practitioner.npi
    # No SPI recorded: the documented stand-in (NPI + location 001), 13 digits, qualifier D.
    assert (parsed.from_id, parsed.from_qualifier) == (f"{npi}001", "D")
    assert parsed.fields["prescriber_npi"] == npi
    PrescriberSpi.objects.create(user=clinician, spi="6301875277001")
    rx2 = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    assert ncpdp_parse.parse_message(
        bytes(OutboundMessage.objects.get(prescription=rx2).payload)
    ).from_id == ("6301875277001")
    # And an inbound request addressed to that SPI finds the prescriber.
    assert selectors.prescriber_for_inbound(spi="6301875277001", npi="") == clinician
    assert selectors.prescriber_for_inbound(spi=f"{colleague.practitioner.npi}001", npi="") == colleague
    with pytest.raises(ValidationError):
        PrescriberSpi(user=colleague, spi="12345").full_clean()


def test_service_and_task_share_one_retry_budget(clinician, patient, catalog, pharmacies, simulator):
    """Bug: the service allowed 10 attempts, the Celery task gave up after 9."""
    assert tasks.transmit_message.max_retries + 1 == outbox.MAX_ATTEMPTS
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    msg = OutboundMessage.objects.get(prescription=rx)
    simulator.mode(fail_rate=1.0)
    results = [outbox.outbound_send(msg.pk) for _ in range(outbox.MAX_ATTEMPTS)]
    assert results == ["retry"] * (outbox.MAX_ATTEMPTS - 1) + ["rejected"]
    msg.refresh_from_db()
    assert msg.attempts == outbox.MAX_ATTEMPTS and msg.status == "needs_attention"
    assert f"gave up after {outbox.MAX_ATTEMPTS} attempts" in msg.last_error
