"""NCPDP SCRIPT 2017071: what is wrong with a NewRx (``validate_new_rx``), as a pharmacy or intermediary checks it."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from .ncpdp import (
    DEA_SCHEDULE_II,
    DEA_SCHEDULES,
    MAX_REFILLS,
    NEW_RX,
    QUANTITY_UNITS,
    NcpdpError,
)
from .ncpdp_parse import date_at, envelope_check, text_at, xml_load

# Paths (relative to Message) that a NewRx must carry: schema-required (§1, §2) plus what the
# intermediaries require (Pharmacy). Prescriber paths are relative to NonVeterinarian/Veterinarian.
_REQUIRED_HEADER = (
    "Header/To",
    "Header/From",
    "Header/MessageID",
    "Header/SentTime",
    "Header/SenderSoftware/SenderSoftwareDeveloper",
    "Header/SenderSoftware/SenderSoftwareProduct",
    "Header/SenderSoftware/SenderSoftwareVersionRelease",
    "Header/PrescriberOrderNumber",
)
_NEW_RX = "Body/NewRx/"
_REQUIRED_NEW_RX = (
    "Patient/HumanPatient/Name/LastName",
    "Patient/HumanPatient/Name/FirstName",
    "Patient/HumanPatient/Gender",
    "Patient/HumanPatient/Address/AddressLine1",
    "Patient/HumanPatient/Address/City",
    "Patient/HumanPatient/Address/StateProvince",
    "Patient/HumanPatient/Address/PostalCode",
    "Patient/HumanPatient/Address/CountryCode",
    "Pharmacy/Identification/NCPDPID",
    "Pharmacy/Identification/NPI",
    "Pharmacy/BusinessName",
    "MedicationPrescribed/DrugDescription",
    "MedicationPrescribed/Quantity/Value",
    "MedicationPrescribed/Quantity/CodeListQualifier",
    "MedicationPrescribed/Quantity/QuantityUnitOfMeasure/Code",
    "MedicationPrescribed/Substitutions",
    "MedicationPrescribed/NumberOfRefills",
    "MedicationPrescribed/Sig/SigText",
)
_REQUIRED_PRESCRIBER = (
    "Identification/NPI",
    "Name/LastName",
    "Name/FirstName",
    "Address/AddressLine1",
    "Address/City",
    "Address/StateProvince",
    "Address/PostalCode",
    "CommunicationNumbers/PrimaryTelephone/Number",
)
_QUANTITY_RE = re.compile(r"^\d+(\.\d+)?$")
_LENGTH_LIMITS = (  # §2 maximum lengths
    ("MedicationPrescribed/DrugDescription", 105),
    ("MedicationPrescribed/Note", 210),
    ("MedicationPrescribed/Sig/SigText", 1000),
    ("Patient/HumanPatient/Name/LastName", 35),
    ("Patient/HumanPatient/Name/FirstName", 35),
    ("Patient/HumanPatient/Address/AddressLine1", 40),
)


def _required_problems(root: etree._Element, message: etree._Element) -> list[str]:
    """Required header and NewRx elements (§1, §2), the dates, the prescriber's, and the §2 maximum lengths."""
    problems = [f"missing {path}" for path in _REQUIRED_HEADER if not text_at(root, path)]
    problems += [f"missing {_NEW_RX}{path}" for path in _REQUIRED_NEW_RX if not text_at(message, path)]
    if not date_at(message, "Patient/HumanPatient/DateOfBirth"):
        problems.append(f"missing {_NEW_RX}Patient/HumanPatient/DateOfBirth")
    if not date_at(message, "MedicationPrescribed/WrittenDate"):
        problems.append(f"missing {_NEW_RX}MedicationPrescribed/WrittenDate")
    problems += _prescriber_problems(message)
    for path, limit in _LENGTH_LIMITS:
        if len(text_at(message, path)) > limit:
            problems.append(f"{_NEW_RX}{path} is longer than {limit} characters")
    return problems


def _prescriber_problems(message: etree._Element) -> list[str]:
    prescriber = message.find("Prescriber/NonVeterinarian")
    if prescriber is None:
        prescriber = message.find("Prescriber/Veterinarian")
    if prescriber is None:
        return [f"missing {_NEW_RX}Prescriber"]
    return [
        f"missing {_NEW_RX}Prescriber/{prescriber.tag}/{path}"
        for path in _REQUIRED_PRESCRIBER
        if not text_at(prescriber, path)
    ]


def _quantity_problems(med: etree._Element | None) -> list[str]:
    """Quantity > 0 and at most 11 characters; a known unit code (§5)."""
    problems = []
    quantity = text_at(med, "Quantity/Value")
    if quantity:
        try:
            amount = Decimal(quantity) if _QUANTITY_RE.match(quantity) else None
        except InvalidOperation:
            amount = None
        if amount is None or len(quantity) > 11:
            problems.append(f"quantity {quantity!r} is not a number of at most 11 characters")
        elif amount <= 0:
            problems.append(f"quantity must be positive, not {quantity}")
    unit = text_at(med, "Quantity/QuantityUnitOfMeasure/Code")
    if unit and unit not in QUANTITY_UNITS:
        problems.append(f"unknown quantity unit code {unit!r}")
    return problems


def _dispensing_problems(med: etree._Element | None) -> list[str]:
    """Refills 0-99, substitutions 0/1, days supply 1-999, the DEA schedule code, and no refills for CII."""
    problems = []
    refills_text = text_at(med, "NumberOfRefills")
    refills_ok = refills_text.isdigit() and int(refills_text) <= MAX_REFILLS
    if refills_text and not refills_ok:
        problems.append(f"refills must be 0-{MAX_REFILLS}, not {refills_text!r}")
    substitutions = text_at(med, "Substitutions")
    if substitutions and substitutions not in ("0", "1"):
        problems.append(f"substitutions must be 0 or 1, not {substitutions!r}")
    days_supply = text_at(med, "DaysSupply")
    if days_supply and not (days_supply.isdigit() and len(days_supply) <= 3 and int(days_supply) > 0):
        problems.append(f"days supply must be 1-999, not {days_supply!r}")
    schedule = text_at(med, "DrugCoded/DEASchedule/Code")
    if schedule and schedule not in DEA_SCHEDULES:
        problems.append(f"unknown DEA schedule code {schedule!r}")
    if schedule == DEA_SCHEDULE_II and refills_text and not (refills_ok and int(refills_text) == 0):
        problems.append("a Schedule II prescription cannot have refills")
    return problems


def validate_new_rx(xml: bytes) -> list[str]:
    """Problems that make this NewRx unacceptable (empty list = fine). Never raises.

    Checks required elements (§1, §2), gender, quantity (> 0, ≤11 characters), the unit code (§5),
    refills (0-99), substitutions, days supply, the DEA schedule code, and that a Schedule II drug has
    no refills (federal law forbids refills of CII prescriptions).
    """
    try:
        root = xml_load(xml)
        _, message = envelope_check(root)
    except NcpdpError as exc:
        return [exc.reason]
    if message.tag != NEW_RX:
        return [f"expected NewRx, got {message.tag}"]
    problems = _required_problems(root, message)
    gender = text_at(message, "Patient/HumanPatient/Gender")
    if gender and gender not in ("M", "F", "U"):
        problems.append(f"gender must be M, F or U, not {gender!r}")
    med = message.find("MedicationPrescribed")
    return problems + _quantity_problems(med) + _dispensing_problems(med)
