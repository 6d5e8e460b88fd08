"""Prescriptions and pharmacies mapped onto the NCPDP SCRIPT dataclasses (``prescriptions.ncpdp``)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from . import ncpdp, selectors
from .models import (
    DEA_SCHEDULE_CODES,
    Pharmacy,
    Prescription,
)

# ICD-10-CM descriptions are cut to this length in the NewRx Diagnosis (the reference gives no limit; a short,
# conservative one keeps intermediaries from refusing the message).
DIAGNOSIS_DESCRIPTION_MAX = 100
SOFTWARE = ncpdp.SenderSoftware()
# Where the clinic is: the prescriber's practice address in a NewRx (§2 requires one).
CLINIC_ADDRESS = getattr(
    settings,
    "CLINIC_ADDRESS",
    {"line1": "100 Clinic Way", "city": "Springfield", "state": "IL", "postal_code": "62701"},
)
CLINIC_PHONE = getattr(settings, "CLINIC_PHONE", "2175550100")


# ------------------------------------------------------------------ NCPDP mapping
def patient_data(patient) -> ncpdp.PatientData:
    addr = (patient.addresses or [{}])[0]
    if not (addr.get("line") and addr.get("city") and addr.get("state") and addr.get("postal_code")):
        raise ValidationError(
            "The patient's home address is needed for an electronic prescription (NCPDP §2)."
        )
    phone = next((p.get("value", "") for p in (patient.phones or []) if p.get("value")), "")
    gender = {"M": "M", "F": "F"}.get(patient.sex_at_birth, "U")
    return ncpdp.PatientData(
        last_name=patient.family_name[:35],
        first_name=patient.given_name[:35],
        gender=gender,
        birth_date=patient.birth_date,
        middle_name=patient.middle_name[:35],
        phone="".join(c for c in phone if c.isdigit())[-10:],
        address=ncpdp.AddressData(
            line1=addr["line"][:40],
            city=addr["city"],
            state=addr["state"][:2],
            postal_code=addr["postal_code"],
            country=addr.get("country") or "US",
        ),
    )


def pharmacy_data(pharmacy: Pharmacy) -> ncpdp.PharmacyData:
    address = None
    if pharmacy.address_line and pharmacy.city:
        address = ncpdp.AddressData(
            line1=pharmacy.address_line,
            city=pharmacy.city,
            state=pharmacy.state,
            postal_code=pharmacy.postal_code,
        )
    return ncpdp.PharmacyData(
        ncpdp_id=pharmacy.ncpdp_id,
        npi=pharmacy.npi or "NONE",
        name=pharmacy.name,
        phone=pharmacy.phone or "0000000000",
        address=address,
    )


def spi_for(user) -> str:
    """The prescriber's SPI for the header's From (reference §1: From qualifier D carries the SPI, not the NPI).

    The SPI recorded by a practice admin (PrescriberSpi) when there is one. Otherwise a documented stand-in:
    the NPI followed by the location suffix "001" (13 digits, the SPI's shape). Real networks check the SPI
    against the connection's account, so a production install records every prescriber's assigned SPI.
    """
    registered = selectors.prescriber_spi(user=user)
    return registered or f"{user.practitioner.npi}001"


def prescriber_data(user) -> ncpdp.PrescriberData:
    practitioner = user.practitioner
    return ncpdp.PrescriberData(
        npi=practitioner.npi,
        last_name=user.last_name or user.username,
        first_name=user.first_name or "-",
        address=ncpdp.AddressData(**CLINIC_ADDRESS),
        phone=practitioner.phone or CLINIC_PHONE,
        dea_number=practitioner.dea_number,
    )


def medication_data(rx: Prescription) -> ncpdp.MedicationData:
    return ncpdp.MedicationData(
        description=rx.medication.name[:105],
        quantity=rx.quantity,
        quantity_unit=rx.quantity_unit,
        written_date=timezone.localdate(rx.signed_at or timezone.now()),
        sig_text=rx.sig_text,
        refills=rx.refills,
        days_supply=rx.days_supply,
        substitutions=0 if rx.substitution_allowed else 1,
        rxnorm_code=rx.medication.rxcui,
        rxnorm_qualifier="SBD" if rx.medication.tty == "SBD" else "SCD",
        dea_schedule=DEA_SCHEDULE_CODES.get(rx.dea_schedule, ""),
        diagnosis_code=rx.diagnosis.replace(".", ""),
        diagnosis_description=rx.diagnosis_description[:DIAGNOSIS_DESCRIPTION_MAX] if rx.diagnosis else "",
        note=rx.note_to_pharmacist,
    )


def new_rx_data(rx: Prescription, message_id: str) -> ncpdp.NewRxData:
    header = ncpdp.MessageHeader(
        to_id=rx.pharmacy.ncpdp_id,
        from_id=spi_for(rx.prescriber),
        message_id=message_id,
        prescriber_order_number=rx.prescriber_order_number,
        software=SOFTWARE,
    )
    return ncpdp.NewRxData(
        header=header,
        patient=patient_data(rx.patient),
        pharmacy=pharmacy_data(rx.pharmacy),
        prescriber=prescriber_data(rx.prescriber),
        medication=medication_data(rx),
    )
