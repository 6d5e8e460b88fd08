"""NCPDP SCRIPT 2017071: building the messages (UTF-8 XML bytes) from the dataclasses in ``prescriptions.ncpdp``.

What a prescriber sends: ``build_new_rx``, ``build_cancel_rx``, ``build_rx_renewal_response``,
``build_rx_change_response``; what a pharmacy sends: ``build_status``, ``build_error``, ``build_verify``,
``build_rx_renewal_request``, ``build_rx_change_request``, ``build_cancel_rx_response``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from lxml import etree

from .ncpdp import (
    CANCEL_DENIAL_CODES,
    CANCEL_RX,
    CANCEL_RX_RESPONSE,
    CHANGE_DENIAL_CODES,
    CHANGE_REQUEST_CODES,
    DEA_SCHEDULE_NONE,
    ERROR,
    MAX_REFILLS,
    MESSAGE_ATTRIBUTES,
    NEW_RX,
    OUTCOME_APPROVED,
    OUTCOME_APPROVED_WITH_CHANGES,
    OUTCOME_DENIED,
    OUTCOME_ELEMENTS,
    OUTCOME_REPLACE,
    OUTCOME_VALIDATED,
    RENEWAL_DENIAL_CODES,
    RX_CHANGE_REQUEST,
    RX_CHANGE_RESPONSE,
    RX_RENEWAL_REQUEST,
    RX_RENEWAL_RESPONSE,
    STATUS,
    STATUS_DELIVERED,
    VERIFY,
    VERIFY_CODE,
    AddressData,
    CancelRxResponseData,
    MedicationData,
    MessageHeader,
    NewRxData,
    PatientData,
    PharmacyData,
    PrescriberData,
    RxChangeRequestData,
    RxChangeResponseData,
    RxRenewalRequestData,
    RxRenewalResponseData,
)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _opt(parent: etree._Element, tag: str, text: str) -> None:
    """Write an optional element only when there is something to say (empty elements fail the schema)."""
    if text:
        _sub(parent, tag, text)


def _digits(phone: str) -> str:
    # §2: telephone numbers are digits only (no dashes or spaces), at most 10.
    return re.sub(r"\D", "", phone)


def _decimal_text(value: Decimal) -> str:
    # Plain notation: Decimal("3E+1") must go out as "30", never in exponent form.
    return format(value.normalize(), "f")


def _sent_time(value: datetime | None) -> str:
    # §1: xsd:dateTime in UTC with a Z suffix.
    moment = (value or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _message(header: MessageHeader) -> tuple[etree._Element, etree._Element]:
    """Message root with its Header filled in (§1 order); returns (root, Body)."""
    root = etree.Element("Message", MESSAGE_ATTRIBUTES)
    head = _sub(root, "Header")
    _sub(head, "To", header.to_id).set("Qualifier", header.to_qualifier)
    _sub(head, "From", header.from_id).set("Qualifier", header.from_qualifier)
    _sub(head, "MessageID", header.message_id)
    _opt(head, "RelatesToMessageID", header.relates_to_message_id)
    _sub(head, "SentTime", _sent_time(header.sent_time))
    software = _sub(head, "SenderSoftware")
    _sub(software, "SenderSoftwareDeveloper", header.software.developer)
    _sub(software, "SenderSoftwareProduct", header.software.product)
    _sub(software, "SenderSoftwareVersionRelease", header.software.version)
    _opt(head, "RxReferenceNumber", header.rx_reference_number)
    _opt(head, "PrescriberOrderNumber", header.prescriber_order_number)
    return root, _sub(root, "Body")


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _require(condition: bool, problem: str) -> None:
    """Builder input checks: a failure is a programming error on our side, hence ValueError."""
    if not condition:
        raise ValueError(problem)


def _address(parent: etree._Element, address: AddressData) -> None:
    node = _sub(parent, "Address")
    _sub(node, "AddressLine1", address.line1)
    _opt(node, "AddressLine2", address.line2)
    _sub(node, "City", address.city)
    _sub(node, "StateProvince", address.state)
    _sub(node, "PostalCode", address.postal_code)
    _sub(node, "CountryCode", address.country)


def _phone(parent: etree._Element, phone: str) -> None:
    numbers = _sub(parent, "CommunicationNumbers")
    _sub(_sub(numbers, "PrimaryTelephone"), "Number", _digits(phone))


def _name(parent: etree._Element, last: str, first: str, middle: str = "") -> None:
    name = _sub(parent, "Name")
    _sub(name, "LastName", last)
    _sub(name, "FirstName", first)
    _opt(name, "MiddleName", middle)


def _patient(body: etree._Element, patient: PatientData) -> None:
    """§2 Patient/HumanPatient: Name, Gender, DateOfBirth, Address, CommunicationNumbers?."""
    human = _sub(_sub(body, "Patient"), "HumanPatient")
    _name(human, patient.last_name, patient.first_name, patient.middle_name)
    _sub(human, "Gender", patient.gender)
    _sub(_sub(human, "DateOfBirth"), "Date", patient.birth_date.isoformat())
    _address(human, patient.address)
    if patient.phone:
        _phone(human, patient.phone)


def _pharmacy(body: etree._Element, pharmacy: PharmacyData) -> None:
    """§2 Pharmacy: Identification (NCPDPID, NPI), BusinessName, Address?, CommunicationNumbers."""
    node = _sub(body, "Pharmacy")
    ident = _sub(node, "Identification")
    _sub(ident, "NCPDPID", pharmacy.ncpdp_id)
    _sub(ident, "NPI", pharmacy.npi)
    _sub(node, "BusinessName", pharmacy.name)
    if pharmacy.address is not None:
        _address(node, pharmacy.address)
    _phone(node, pharmacy.phone)


def _prescriber(body: etree._Element, prescriber: PrescriberData) -> None:
    """§2 Prescriber/NonVeterinarian: Identification (DEANumber?, NPI), Name, Address, phone."""
    node = _sub(_sub(body, "Prescriber"), "NonVeterinarian")
    ident = _sub(node, "Identification")
    _opt(ident, "DEANumber", prescriber.dea_number)
    _sub(ident, "NPI", prescriber.npi)
    _name(node, prescriber.last_name, prescriber.first_name)
    _address(node, prescriber.address)
    _phone(node, prescriber.phone)


def _medication(body: etree._Element, tag: str, med: MedicationData) -> None:
    """§2 medication block, in schema order: DrugDescription, DrugCoded, Quantity, DaysSupply,
    WrittenDate, Substitutions, NumberOfRefills, Diagnosis, Note, Sig."""
    _require(med.quantity > 0, "quantity must be positive")
    _require(0 <= med.refills <= MAX_REFILLS, f"refills must be 0-{MAX_REFILLS}")
    node = _sub(body, tag)
    _sub(node, "DrugDescription", med.description)
    coded = _sub(node, "DrugCoded")
    if med.ndc:
        product = _sub(coded, "ProductCode")
        _sub(product, "Code", med.ndc)
        _sub(product, "Qualifier", "ND")
    if med.rxnorm_code:
        db_code = _sub(coded, "DrugDBCode")
        _sub(db_code, "Code", med.rxnorm_code)
        _sub(db_code, "Qualifier", med.rxnorm_qualifier)
    # §5: always send a schedule; C38046 says "not controlled" (intermediaries reject a missing one).
    _sub(_sub(coded, "DEASchedule"), "Code", med.dea_schedule or DEA_SCHEDULE_NONE)
    quantity = _sub(node, "Quantity")
    _sub(quantity, "Value", _decimal_text(med.quantity))
    _sub(quantity, "CodeListQualifier", med.quantity_qualifier)
    _sub(_sub(quantity, "QuantityUnitOfMeasure"), "Code", med.quantity_unit)
    if med.days_supply is not None:
        _sub(node, "DaysSupply", str(med.days_supply))
    _sub(_sub(node, "WrittenDate"), "Date", med.written_date.isoformat())
    _sub(node, "Substitutions", str(med.substitutions))
    _sub(node, "NumberOfRefills", str(med.refills))
    if med.diagnosis_code:
        diagnosis = _sub(node, "Diagnosis")
        _sub(diagnosis, "ClinicalInformationQualifier", "1")  # 1 = supplied by the prescriber
        primary = _sub(diagnosis, "Primary")
        _sub(primary, "Code", med.diagnosis_code)
        _sub(primary, "Qualifier", "ABF")  # ABF = ICD-10-CM
        _opt(primary, "Description", med.diagnosis_description)
    _opt(node, "Note", med.note)
    _sub(_sub(node, "Sig"), "SigText", med.sig_text)


def _parties(
    body: etree._Element, patient: PatientData, pharmacy: PharmacyData, prescriber: PrescriberData
) -> None:
    _patient(body, patient)
    _pharmacy(body, pharmacy)
    _prescriber(body, prescriber)


def _response(
    body: etree._Element, outcome: str, reason_codes: tuple[str, ...], denial: str, note: str
) -> None:
    """§4 Response with one outcome child. Denied carries ReasonCode(s) then DenialReason; others a Note."""
    node = _sub(_sub(body, "Response"), OUTCOME_ELEMENTS[outcome])
    if outcome in (OUTCOME_DENIED, OUTCOME_VALIDATED):
        for code in reason_codes:
            _sub(node, "ReasonCode", code)
    if outcome == OUTCOME_DENIED:
        _opt(node, "DenialReason", denial)
    else:
        _opt(node, "Note", note)


def _check_denial(outcome: str, reason_codes: tuple[str, ...], allowed: dict[str, str]) -> None:
    if outcome != OUTCOME_DENIED:
        return
    _require(1 <= len(reason_codes) <= 10, "a denial needs 1-10 reason codes")
    unknown = [code for code in reason_codes if code not in allowed]
    _require(not unknown, f"unknown denial reason code(s): {', '.join(unknown)}")


def build_new_rx(msg: NewRxData) -> bytes:
    """NewRx (§2): Patient, Pharmacy, Prescriber, MedicationPrescribed."""
    _require(bool(msg.header.prescriber_order_number), "a NewRx needs a prescriber order number")
    root, body = _message(msg.header)
    new_rx = _sub(body, NEW_RX)
    _parties(new_rx, msg.patient, msg.pharmacy, msg.prescriber)
    _medication(new_rx, "MedicationPrescribed", msg.medication)
    return _serialize(root)


def build_cancel_rx(
    original: NewRxData, *, message_id: str, relates_to_message_id: str, sent_time: datetime | None = None
) -> bytes:
    """CancelRx (§4) for the prescription ``original`` describes.

    Keeps the original's parties, medication and PrescriberOrderNumber; ``relates_to_message_id`` is the
    NewRx's MessageID and ``message_id`` must be new. The order is cancelled only once a
    CancelRxResponse says Approved.
    """
    _require(bool(relates_to_message_id), "a CancelRx must relate to the NewRx MessageID")
    _require(message_id != relates_to_message_id, "a CancelRx needs its own MessageID")
    header = replace(
        original.header,
        message_id=message_id,
        relates_to_message_id=relates_to_message_id,
        sent_time=sent_time,
    )
    root, body = _message(header)
    cancel = _sub(body, CANCEL_RX)
    _parties(cancel, original.patient, original.pharmacy, original.prescriber)
    _medication(cancel, "MedicationPrescribed", original.medication)
    return _serialize(root)


def build_rx_renewal_response(msg: RxRenewalResponseData) -> bytes:
    """RxRenewalResponse (§4): Response, Patient, Pharmacy, Prescriber, MedicationResponse."""
    allowed = {OUTCOME_APPROVED, OUTCOME_APPROVED_WITH_CHANGES, OUTCOME_DENIED, OUTCOME_REPLACE}
    _require(msg.outcome in allowed, f"renewal outcome must be one of {sorted(allowed)}")
    _require(bool(msg.header.relates_to_message_id), "a response must relate to the request MessageID")
    _check_denial(msg.outcome, msg.reason_codes, RENEWAL_DENIAL_CODES)
    root, body = _message(msg.header)
    response = _sub(body, RX_RENEWAL_RESPONSE)
    _response(response, msg.outcome, msg.reason_codes, msg.denial_reason, msg.note)
    _parties(response, msg.patient, msg.pharmacy, msg.prescriber)
    _medication(response, "MedicationResponse", msg.medication)
    return _serialize(root)


def build_rx_change_response(msg: RxChangeResponseData) -> bytes:
    """RxChangeResponse (§4): MessageRequestCode(+SubCodes), Response, parties, MedicationPrescribed."""
    allowed = {OUTCOME_APPROVED, OUTCOME_APPROVED_WITH_CHANGES, OUTCOME_DENIED, OUTCOME_VALIDATED}
    _require(msg.outcome in allowed, f"change outcome must be one of {sorted(allowed)}")
    _require(msg.request_code in CHANGE_REQUEST_CODES, "unknown change request code")
    _require(
        msg.outcome != OUTCOME_VALIDATED or msg.request_code == "U",
        "validated answers prescriber-authorization (U) requests only",
    )
    _require(bool(msg.header.relates_to_message_id), "a response must relate to the request MessageID")
    _check_denial(msg.outcome, msg.reason_codes, CHANGE_DENIAL_CODES)
    root, body = _message(msg.header)
    response = _sub(body, RX_CHANGE_RESPONSE)
    _sub(response, "MessageRequestCode", msg.request_code)
    for subcode in msg.request_subcodes:
        _sub(response, "MessageRequestSubCode", subcode)
    _response(response, msg.outcome, msg.reason_codes, msg.denial_reason, msg.note)
    _parties(response, msg.patient, msg.pharmacy, msg.prescriber)
    _medication(response, "MedicationPrescribed", msg.medication)
    return _serialize(root)


def build_cancel_rx_response(msg: CancelRxResponseData) -> bytes:
    """CancelRxResponse (§4): Response (Approved / Denied), parties, MedicationPrescribed."""
    _require(bool(msg.header.relates_to_message_id), "a response must relate to the CancelRx MessageID")
    outcome = OUTCOME_APPROVED if msg.approved else OUTCOME_DENIED
    _check_denial(outcome, msg.reason_codes, CANCEL_DENIAL_CODES)
    root, body = _message(msg.header)
    response = _sub(body, CANCEL_RX_RESPONSE)
    _response(response, outcome, msg.reason_codes, msg.denial_reason, msg.note)
    _parties(response, msg.patient, msg.pharmacy, msg.prescriber)
    _medication(response, "MedicationPrescribed", msg.medication)
    return _serialize(root)


def build_rx_renewal_request(msg: RxRenewalRequestData) -> bytes:
    """RxRenewalRequest (§4): Patient, Pharmacy (address required), Prescriber, MedicationDispensed,
    MedicationPrescribed?."""
    _require(msg.pharmacy.address is not None, "a renewal request needs the pharmacy address")
    root, body = _message(msg.header)
    request = _sub(body, RX_RENEWAL_REQUEST)
    _parties(request, msg.patient, msg.pharmacy, msg.prescriber)
    _medication(request, "MedicationDispensed", msg.dispensed)
    if msg.prescribed is not None:
        _medication(request, "MedicationPrescribed", msg.prescribed)
    return _serialize(root)


def build_rx_change_request(msg: RxChangeRequestData) -> bytes:
    """RxChangeRequest (§4): MessageRequestCode(+SubCodes), parties, MedicationPrescribed, ≤9
    MedicationRequested."""
    _require(msg.request_code in CHANGE_REQUEST_CODES, "unknown change request code")
    _require(len(msg.requested) <= 9, "at most 9 requested medications")
    root, body = _message(msg.header)
    request = _sub(body, RX_CHANGE_REQUEST)
    _sub(request, "MessageRequestCode", msg.request_code)
    for subcode in msg.request_subcodes:
        _sub(request, "MessageRequestSubCode", subcode)
    _parties(request, msg.patient, msg.pharmacy, msg.prescriber)
    _medication(request, "MedicationPrescribed", msg.prescribed)
    for option in msg.requested:
        _medication(request, "MedicationRequested", option)
    return _serialize(root)


def build_status(code: str = STATUS_DELIVERED, description: str = "", *, header: MessageHeader) -> bytes:
    """Status (§3): the receiver accepted the message. 000 = by the network, 010 = by the pharmacy."""
    _require(bool(header.relates_to_message_id), "a Status must relate to a MessageID")
    root, body = _message(header)
    status = _sub(body, STATUS)
    _sub(status, "Code", code)
    _opt(status, "Description", description[:70])  # §3 Status Description ≤70
    return _serialize(root)


def build_error(
    code: str, description: str, *, header: MessageHeader, description_codes: tuple[str, ...] = ()
) -> bytes:
    """Error (§3): Code, up to 10 DescriptionCode, Description.

    ``header.relates_to_message_id`` may be empty only when the request's MessageID could not be read
    (malformed XML): there is nothing to relate to.
    """
    _require(len(description_codes) <= 10, "at most 10 description codes")
    root, body = _message(header)
    error = _sub(body, ERROR)
    _sub(error, "Code", code)
    for description_code in description_codes:
        _sub(error, "DescriptionCode", description_code)
    _opt(error, "Description", description)
    return _serialize(root)


def build_verify(description: str = "", *, header: MessageHeader) -> bytes:
    """Verify (§3): VerifyStatus code 010, sent when the request asked for a ReturnReceipt."""
    _require(bool(header.relates_to_message_id), "a Verify must relate to a MessageID")
    root, body = _message(header)
    status = _sub(_sub(body, VERIFY), "VerifyStatus")
    _sub(status, "Code", VERIFY_CODE)
    _opt(status, "Description", description[:70])
    return _serialize(root)
