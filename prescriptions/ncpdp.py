"""NCPDP SCRIPT 2017071 messages: build, parse and check them. Vendor-neutral, pure Python + lxml.

Section numbers (§) refer to docs of the standard restated in our own words (the project's NCPDP reference
notes); the standard's own schemas are member-licensed and are not used or shipped here.

- Builders return UTF-8 XML bytes: ``build_new_rx``, ``build_cancel_rx``, ``build_rx_renewal_response``,
  ``build_rx_change_response``, and what a pharmacy sends: ``build_status``, ``build_error``,
  ``build_verify``, ``build_rx_renewal_request``, ``build_rx_change_request``, ``build_cancel_rx_response``.
- ``parse_message`` reads any of those with a hardened parser and raises ``NcpdpError`` on anything it
  will not accept; ``validate_new_rx`` lists what is wrong with a NewRx.

No Django and no database here: the prescriptions services map their models onto these dataclasses.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

# §1: the five version attributes are free text; public 2017071 traffic uses 20170715 for all of them.
SCRIPT_VERSION = "20170715"
_MESSAGE_ATTRIBUTES = {
    "DatatypesVersion": SCRIPT_VERSION,
    "TransportVersion": SCRIPT_VERSION,
    "TransactionDomain": "SCRIPT",
    "TransactionVersion": SCRIPT_VERSION,
    "StructuresVersion": SCRIPT_VERSION,
    "ECLVersion": SCRIPT_VERSION,
}

# §1 To/From qualifiers used by this project.
QUALIFIER_PHARMACY = "P"
QUALIFIER_PRESCRIBER = "D"
QUALIFIER_CLINIC = "C"

# Body element names (the message type is the single child of Body).
NEW_RX = "NewRx"
CANCEL_RX = "CancelRx"
CANCEL_RX_RESPONSE = "CancelRxResponse"
RX_RENEWAL_REQUEST = "RxRenewalRequest"
RX_RENEWAL_RESPONSE = "RxRenewalResponse"
RX_CHANGE_REQUEST = "RxChangeRequest"
RX_CHANGE_RESPONSE = "RxChangeResponse"
STATUS = "Status"
ERROR = "Error"
VERIFY = "Verify"
MESSAGE_TYPES = frozenset(
    {
        NEW_RX,
        CANCEL_RX,
        CANCEL_RX_RESPONSE,
        RX_RENEWAL_REQUEST,
        RX_RENEWAL_RESPONSE,
        RX_CHANGE_REQUEST,
        RX_CHANGE_RESPONSE,
        STATUS,
        ERROR,
        VERIFY,
    }
)

# §5 QuantityUnitOfMeasure (NCI C89510, the 28 terms of the public export).
QUANTITY_UNITS: dict[str, str] = {
    "C48542": "Tablet",
    "C48480": "Capsule",
    "C28254": "Milliliter",
    "C48155": "Gram",
    "C64933": "Each",
    "C48524": "Patch",
    "C48539": "Suppository",
    "C48521": "Packet",
    "C48504": "Kit",
    "C62412": "Applicator",
    "C64696": "Caplet",
    "C48506": "Lozenge",
    "C48548": "Troche",
    "C53499": "Film",
    "C48538": "Strip",
    "C54564": "Blister",
    "C69124": "Gum",
    "C48499": "Implant",
    "C62276": "Insert",
    "C120263": "Lancet",
    "C120216": "Pen Needle",
    "C65032": "Pad",
    "C62609": "Ring",
    "C53502": "Sponge",
    "C53503": "Stick",
    "C53504": "Swab",
    "C48552": "Wafer",
    "C38046": "Unspecified",
}

# §5 DEASchedule (NCI C89507). C38046 is sent for drugs that are not controlled.
DEA_SCHEDULE_NONE = "C38046"
DEA_SCHEDULE_II = "C48675"
DEA_SCHEDULES: dict[str, str] = {
    "C48672": "CI",
    DEA_SCHEDULE_II: "CII",
    "C48676": "CIII",
    "C48677": "CIV",
    "C48679": "CV",
    DEA_SCHEDULE_NONE: "Not controlled",
}

# §2 DrugDBCode qualifiers that mean the code is an RxNorm concept.
RXNORM_QUALIFIERS = frozenset({"SCD", "SBD", "GPK", "BPK"})

# §2 Quantity/CodeListQualifier: 38 = original quantity, the one a NewRx carries.
QUANTITY_QUALIFIER_ORIGINAL = "38"

MAX_REFILLS = 99  # §2 NumberOfRefills is one or two digits.

# §3 Status codes.
STATUS_ACCEPTED = "000"  # accepted by the intermediary; delivery still pending
STATUS_DELIVERED = "010"  # accepted by the final receiver (the pharmacy)
VERIFY_CODE = "010"  # §3 the only VerifyStatus code

# §3 Error codes, and what the sender should do with each.
ERROR_COMMUNICATION = "600"
ERROR_UNABLE_TO_PROCESS = "601"
ERROR_RECEIVER_SYSTEM = "602"
ERROR_CONFIGURATION = "700"
ERROR_REJECTED = "900"
ERROR_CODES: dict[str, str] = {
    ERROR_COMMUNICATION: "Communication problem",
    ERROR_UNABLE_TO_PROCESS: "Receiver unable to process",
    ERROR_RECEIVER_SYSTEM: "Receiver system error",
    ERROR_CONFIGURATION: "Configuration error",
    ERROR_REJECTED: "Transaction rejected",
}
# Retry later with the same MessageID (the receiver de-duplicates on it).
TRANSIENT_ERROR_CODES = frozenset({ERROR_COMMUNICATION, ERROR_RECEIVER_SYSTEM})
# Do not resend as is: 601 cannot be processed, 700 needs setup fixed, 900 needs the data fixed and a
# new MessageID.
PERMANENT_ERROR_CODES = frozenset({ERROR_UNABLE_TO_PROCESS, ERROR_CONFIGURATION, ERROR_REJECTED})

# §3 Error DescriptionCodes used here.
DESC_XML_SYNTAX = "500"
DESC_CANNOT_IDENTIFY = "1000"
DESC_CONTENT_INVALID = "2000"
DESC_BREAKS_RULES = "3000"
DESC_SYSTEM_ERROR = "4020"
DESC_NOT_SUPPORTED = "4040"
DESC_DUPLICATE = "220"

# §4 Response outcomes (our names -> element names inside Response).
OUTCOME_APPROVED = "approved"
OUTCOME_APPROVED_WITH_CHANGES = "approved_with_changes"
OUTCOME_DENIED = "denied"
OUTCOME_REPLACE = "replace"
OUTCOME_VALIDATED = "validated"
_OUTCOME_ELEMENTS = {
    OUTCOME_APPROVED: "Approved",
    OUTCOME_APPROVED_WITH_CHANGES: "ApprovedWithChanges",
    OUTCOME_DENIED: "Denied",
    OUTCOME_REPLACE: "Replace",
    OUTCOME_VALIDATED: "Validated",
}
_ELEMENT_OUTCOMES = {element: outcome for outcome, element in _OUTCOME_ELEMENTS.items()}

# §4 CancelRxResponse denial reasons.
CANCEL_DENIAL_CODES: dict[str, str] = {
    "AA": "Patient unknown to the provider",
    "AB": "Patient never under provider care",
    "AC": "Patient no longer under provider care",
    "AP": "Request already responded to by other means",
    "AR": "Prescription transferred to another pharmacy",
}
# §4 RxRenewalResponse denial reasons.
RENEWAL_DENIAL_CODES: dict[str, str] = {
    "AA": "Patient unknown to the provider",
    "AB": "Patient never under provider care",
    "AC": "Patient no longer under provider care",
    "AD": "Refill too soon",
    "AE": "Medication never prescribed for the patient",
    "AF": "Patient should contact provider",
    "AG": "Refill not appropriate",
    "AM": "Patient needs appointment",
    "AN": "Prescriber not associated with this practice",
    "AP": "Request already responded to by other means",
    "BE": "Patient request",
    "CZ": "Patient had allergy to medication",
    "DA": "Medication has been discontinued",
}
# §4 RxChangeResponse denial reasons: the renewal set plus AL and AO.
CHANGE_DENIAL_CODES: dict[str, str] = {
    **RENEWAL_DENIAL_CODES,
    "AL": "Change not appropriate",
    "AO": "No attempt will be made to obtain prior authorization",
}
# §4 RxChangeRequest MessageRequestCode.
CHANGE_REQUEST_CODES: dict[str, str] = {
    "G": "Generic substitution",
    "T": "Therapeutic interchange",
    "P": "Prior authorization required",
    "D": "Drug use evaluation",
    "S": "Script clarification",
    "OS": "Out of stock",
    "U": "Prescriber authorization",
}

# Inbound messages are small; refuse anything bigger before handing it to the parser.
MAX_MESSAGE_BYTES = 1_000_000


class NcpdpError(ValueError):
    """An inbound message that cannot be accepted (malformed, unsafe, or not a SCRIPT message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_transient_error(code: str) -> bool:
    """True when an Error with this code should be retried later unchanged (§3: 600, 602).

    Unknown codes count as permanent: a human looks at them instead of a blind resend loop.
    """
    return code in TRANSIENT_ERROR_CODES


def new_message_id() -> str:
    """A fresh MessageID: a UUID without hyphens, 32 hex characters (§1, within the 35-char limit)."""
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------------------
# Input dataclasses. Empty strings mean "not known / do not send".
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderSoftware:
    """Header/SenderSoftware (§1, required): developer ≤35, product ≤35, version ≤50 characters."""

    developer: str = "openehr-clinic"
    product: str = "openehr-clinic"
    version: str = "0.1.0"


@dataclass(frozen=True)
class MessageHeader:
    """Header fields (§1), in schema order when written.

    ``to_id``/``from_id`` are routing IDs: a pharmacy's 7-digit NCPDP ID with qualifier ``P``, a
    prescriber's SPI with ``D``, a clinic with ``C``. ``relates_to_message_id`` is required on Status,
    Error, Verify, CancelRx and every response. ``sent_time`` defaults to now (UTC) at build time.
    """

    to_id: str
    from_id: str
    message_id: str
    to_qualifier: str = QUALIFIER_PHARMACY
    from_qualifier: str = QUALIFIER_PRESCRIBER
    relates_to_message_id: str = ""
    prescriber_order_number: str = ""  # ≤35, the EHR's order reference (MedicationRequest.identifier)
    rx_reference_number: str = ""  # the pharmacy's own Rx number
    sent_time: datetime | None = None
    software: SenderSoftware = field(default_factory=SenderSoftware)


@dataclass(frozen=True)
class AddressData:
    """Address (§2): line 1 ≤40 characters, two-letter state and country codes."""

    line1: str
    city: str
    state: str
    postal_code: str
    line2: str = ""
    country: str = "US"


@dataclass(frozen=True)
class PatientData:
    """Patient/HumanPatient (§2). ``gender`` is M, F or U; the address is required in a NewRx."""

    last_name: str
    first_name: str
    gender: str
    birth_date: date
    address: AddressData
    middle_name: str = ""
    phone: str = ""  # sent as digits only, ≤10


@dataclass(frozen=True)
class PharmacyData:
    """Pharmacy (§2): NCPDP ID and NPI, business name ≤70, phone; the address is needed in renewals."""

    ncpdp_id: str
    npi: str
    name: str
    phone: str
    address: AddressData | None = None


@dataclass(frozen=True)
class PrescriberData:
    """Prescriber/NonVeterinarian (§2): NPI required, DEA number when prescribing controlled drugs.

    The SPI is not sent here; it goes in the header's ``from_id``.
    """

    npi: str
    last_name: str
    first_name: str
    address: AddressData
    phone: str
    dea_number: str = ""


@dataclass(frozen=True)
class MedicationData:
    """MedicationPrescribed / MedicationDispensed / MedicationRequested (§2, §5).

    - ``quantity`` > 0, at most 11 characters; ``quantity_unit`` is a ``QUANTITY_UNITS`` code.
    - ``refills`` 0-99 (there is no PRN value); ``substitutions`` 0 = allowed, 1 = prescriber forbids.
    - ``rxnorm_code`` with ``rxnorm_qualifier`` (SCD/SBD/GPK/BPK) -> DrugCoded/DrugDBCode;
      ``ndc`` (11 digits) -> DrugCoded/ProductCode qualifier ND.
    - ``dea_schedule`` is a ``DEA_SCHEDULES`` code; empty means not controlled (C38046 is sent).
    - ``diagnosis_code`` is ICD-10-CM (qualifier ABF), sent as given.
    """

    description: str  # ≤105
    quantity: Decimal
    quantity_unit: str
    written_date: date
    sig_text: str  # ≤1000
    refills: int = 0
    days_supply: int | None = None
    substitutions: int = 0
    rxnorm_code: str = ""
    rxnorm_qualifier: str = "SCD"
    ndc: str = ""
    dea_schedule: str = ""
    diagnosis_code: str = ""
    diagnosis_description: str = ""
    note: str = ""  # ≤210
    quantity_qualifier: str = QUANTITY_QUALIFIER_ORIGINAL


@dataclass(frozen=True)
class NewRxData:
    """Everything a NewRx carries (§2). Also the input of ``build_cancel_rx``."""

    header: MessageHeader
    patient: PatientData
    pharmacy: PharmacyData
    prescriber: PrescriberData
    medication: MedicationData


@dataclass(frozen=True)
class RxRenewalRequestData:
    """RxRenewalRequest (§4), pharmacy -> prescriber: what was dispensed and the refills asked for.

    The pharmacy's note travels in ``dispensed.note``; ``dispensed.refills`` is the number asked for.
    """

    header: MessageHeader
    patient: PatientData
    pharmacy: PharmacyData
    prescriber: PrescriberData
    dispensed: MedicationData
    prescribed: MedicationData | None = None


@dataclass(frozen=True)
class RxChangeRequestData:
    """RxChangeRequest (§4): a request code, the original medication and up to 9 alternatives."""

    header: MessageHeader
    request_code: str
    patient: PatientData
    pharmacy: PharmacyData
    prescriber: PrescriberData
    prescribed: MedicationData
    requested: tuple[MedicationData, ...] = ()
    request_subcodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RxRenewalResponseData:
    """RxRenewalResponse (§4). ``outcome`` is approved / approved_with_changes / denied / replace.

    Approved keeps the refill count asked for; approved_with_changes changes only the refill count;
    replace changes sig, quantity or drug; denied needs 1-10 ``reason_codes`` from
    ``RENEWAL_DENIAL_CODES``. ``medication`` is what the prescriber authorises (MedicationResponse).
    """

    header: MessageHeader
    outcome: str
    patient: PatientData
    pharmacy: PharmacyData
    prescriber: PrescriberData
    medication: MedicationData
    reason_codes: tuple[str, ...] = ()
    denial_reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class RxChangeResponseData(RxRenewalResponseData):
    """RxChangeResponse (§4). ``outcome`` is approved / approved_with_changes / denied / validated.

    ``request_code`` (and subcodes) echo the request; validated is only for code ``U``; denied uses
    ``CHANGE_DENIAL_CODES``. ``medication`` is the option the prescriber picked.
    """

    request_code: str = ""
    request_subcodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CancelRxResponseData:
    """CancelRxResponse (§4), pharmacy -> prescriber: approved, or denied with ``CANCEL_DENIAL_CODES``."""

    header: MessageHeader
    approved: bool
    patient: PatientData
    pharmacy: PharmacyData
    prescriber: PrescriberData
    medication: MedicationData
    reason_codes: tuple[str, ...] = ()
    denial_reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class ParsedMessage:
    """What ``parse_message`` read. ``fields`` holds the type-specific body values (see parse_message)."""

    message_type: str
    message_id: str
    relates_to_message_id: str
    from_id: str
    from_qualifier: str
    to_id: str
    to_qualifier: str
    prescriber_order_number: str
    rx_reference_number: str
    sent_time: str
    fields: dict[str, Any]


def reply_header(
    parsed: ParsedMessage, *, message_id: str | None = None, software: SenderSoftware | None = None
) -> MessageHeader:
    """Header for an answer to ``parsed``: To/From swapped, RelatesToMessageID = its MessageID (§1, §3)."""
    return MessageHeader(
        to_id=parsed.from_id,
        to_qualifier=parsed.from_qualifier,
        from_id=parsed.to_id,
        from_qualifier=parsed.to_qualifier,
        message_id=message_id or new_message_id(),
        relates_to_message_id=parsed.message_id,
        prescriber_order_number=parsed.prescriber_order_number,
        rx_reference_number=parsed.rx_reference_number,
        software=software or SenderSoftware(),
    )


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------


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
    root = etree.Element("Message", _MESSAGE_ATTRIBUTES)
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
    node = _sub(_sub(body, "Response"), _OUTCOME_ELEMENTS[outcome])
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


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------

_DOCTYPE_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _load(xml: bytes) -> etree._Element:
    """Parse untrusted bytes safely: no DTD, no entities, no network, no huge trees."""
    if not isinstance(xml, bytes | bytearray):
        raise NcpdpError("message must be bytes")
    if len(xml) > MAX_MESSAGE_BYTES:
        raise NcpdpError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    # Refuse DTDs outright (entity expansion attacks, external entities): SCRIPT never uses them.
    if _DOCTYPE_RE.search(xml):
        raise NcpdpError("DOCTYPE/ENTITY declarations are not allowed")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(bytes(xml), parser)
    except etree.XMLSyntaxError as exc:
        raise NcpdpError(f"malformed XML: {exc}") from None
    # Second line of defence for encodings the byte scan cannot read (e.g. UTF-16).
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise NcpdpError("DOCTYPE/ENTITY declarations are not allowed")
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise NcpdpError("entity references are not allowed")
    return root


def _text(node: etree._Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path)
    if found is None or found.text is None:
        return ""
    return found.text.strip()


def _date_text(node: etree._Element | None, path: str) -> str:
    """§2 dates are a Date or a DateTime child; return whichever is there."""
    return _text(node, f"{path}/Date") or _text(node, f"{path}/DateTime")


def _medication_fields(med: etree._Element | None) -> dict[str, Any]:
    if med is None:
        return {}
    rxnorm_code = ""
    for db_code in med.findall("DrugCoded/DrugDBCode"):
        if _text(db_code, "Qualifier") in RXNORM_QUALIFIERS:
            rxnorm_code = _text(db_code, "Code")
    return {
        "drug_description": _text(med, "DrugDescription"),
        "rxnorm_code": rxnorm_code,
        "ndc": _text(med, "DrugCoded/ProductCode/Code")
        if _text(med, "DrugCoded/ProductCode/Qualifier") == "ND"
        else "",
        "dea_schedule": _text(med, "DrugCoded/DEASchedule/Code"),
        "quantity": _text(med, "Quantity/Value"),
        "quantity_qualifier": _text(med, "Quantity/CodeListQualifier"),
        "quantity_unit": _text(med, "Quantity/QuantityUnitOfMeasure/Code"),
        "days_supply": _text(med, "DaysSupply"),
        "written_date": _date_text(med, "WrittenDate"),
        "substitutions": _text(med, "Substitutions"),
        "refills": _text(med, "NumberOfRefills"),
        "diagnosis_code": _text(med, "Diagnosis/Primary/Code"),
        "diagnosis_description": _text(med, "Diagnosis/Primary/Description"),
        "note": _text(med, "Note"),
        "sig_text": _text(med, "Sig/SigText"),
    }


def _party_fields(body: etree._Element) -> dict[str, Any]:
    human = body.find("Patient/HumanPatient")
    prescriber = body.find("Prescriber/NonVeterinarian")
    if prescriber is None:
        prescriber = body.find("Prescriber/Veterinarian")
    return {
        "patient_last_name": _text(human, "Name/LastName"),
        "patient_first_name": _text(human, "Name/FirstName"),
        "patient_gender": _text(human, "Gender"),
        "patient_birth_date": _date_text(human, "DateOfBirth"),
        "pharmacy_ncpdp_id": _text(body, "Pharmacy/Identification/NCPDPID"),
        "pharmacy_name": _text(body, "Pharmacy/BusinessName"),
        "prescriber_npi": _text(prescriber, "Identification/NPI"),
        "prescriber_dea": _text(prescriber, "Identification/DEANumber"),
        "return_receipt": body.find("ReturnReceipt") is not None,
    }


def _response_fields(body: etree._Element) -> dict[str, Any]:
    response = body.find("Response")
    choice = response[0] if response is not None and len(response) else None
    if choice is None or choice.tag not in _ELEMENT_OUTCOMES:
        raise NcpdpError(f"{body.tag} has no recognised Response")
    return {
        "outcome": _ELEMENT_OUTCOMES[choice.tag],
        "reason_codes": [code.text.strip() for code in choice.findall("ReasonCode") if code.text],
        "denial_reason": _text(choice, "DenialReason"),
        "response_note": _text(choice, "Note"),
    }


def _body_fields(message_type: str, body: etree._Element) -> dict[str, Any]:
    """The interesting values per message type; all are strings (or lists / bools) as written."""
    if message_type in (STATUS, VERIFY):
        status = body if message_type == STATUS else body.find("VerifyStatus")
        return {"code": _text(status, "Code"), "description": _text(status, "Description")}
    if message_type == ERROR:
        return {
            "code": _text(body, "Code"),
            "description_codes": [c.text.strip() for c in body.findall("DescriptionCode") if c.text],
            "description": _text(body, "Description"),
            "transient": is_transient_error(_text(body, "Code")),
        }
    fields = _party_fields(body)
    if message_type in (NEW_RX, CANCEL_RX):
        fields |= _medication_fields(body.find("MedicationPrescribed"))
    elif message_type == RX_RENEWAL_REQUEST:
        # The dispensed block carries the drug, quantity, refills asked for and the pharmacy's note.
        fields |= _medication_fields(body.find("MedicationDispensed"))
        fields["prescribed"] = _medication_fields(body.find("MedicationPrescribed"))
    elif message_type == RX_CHANGE_REQUEST:
        requested = [_medication_fields(med) for med in body.findall("MedicationRequested")]
        fields |= requested[0] if requested else _medication_fields(body.find("MedicationPrescribed"))
        fields["request_code"] = _text(body, "MessageRequestCode")
        fields["request_subcodes"] = [c.text.strip() for c in body.findall("MessageRequestSubCode") if c.text]
        fields["prescribed"] = _medication_fields(body.find("MedicationPrescribed"))
        fields["requested"] = requested
    elif message_type == RX_RENEWAL_RESPONSE:
        fields |= _response_fields(body) | _medication_fields(body.find("MedicationResponse"))
    elif message_type == RX_CHANGE_RESPONSE:
        fields |= _response_fields(body) | _medication_fields(body.find("MedicationPrescribed"))
        fields["request_code"] = _text(body, "MessageRequestCode")
    elif message_type == CANCEL_RX_RESPONSE:
        fields |= _response_fields(body) | _medication_fields(body.find("MedicationPrescribed"))
    return fields


def _envelope(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    """Check the §1 envelope; return (Header, the single message element inside Body)."""
    if root.tag != "Message":
        if isinstance(root.tag, str) and root.tag.endswith("}Message"):
            # §1: 2017071 has no namespace; a namespaced root is 10.6 style.
            raise NcpdpError("namespaced Message root (SCRIPT 10.x style) is not SCRIPT 2017071")
        raise NcpdpError(f"root element must be Message, not {root.tag}")
    header = root.find("Header")
    body = root.find("Body")
    if header is None or body is None:
        raise NcpdpError("Message must contain Header and Body")
    if not _text(header, "MessageID"):
        raise NcpdpError("Header/MessageID is missing")
    if len(_text(header, "MessageID")) > 35:
        raise NcpdpError("Header/MessageID is longer than 35 characters")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise NcpdpError("Body must contain exactly one message element")
    if children[0].tag not in MESSAGE_TYPES:
        raise NcpdpError(f"unknown message type {children[0].tag}")
    return header, children[0]


def parse_message(xml: bytes) -> ParsedMessage:
    """Read a SCRIPT 2017071 message; raise ``NcpdpError`` if it is malformed, unsafe or unknown.

    ``fields`` by type:
    - Status / Verify: code, description. Error: code, description_codes, description, transient.
    - NewRx / CancelRx: patient_*, pharmacy_ncpdp_id, prescriber_npi/dea, return_receipt and the
      medication: drug_description, rxnorm_code, ndc, dea_schedule, quantity, quantity_unit,
      days_supply, written_date, substitutions, refills, diagnosis_code, note, sig_text.
    - RxRenewalRequest: the same, taken from MedicationDispensed (refills = refills asked for, note =
      the pharmacy's note), plus ``prescribed``.
    - RxChangeRequest: request_code, request_subcodes, the first MedicationRequested as the flat
      medication fields, plus ``prescribed`` and ``requested`` (all options).
    - Responses: outcome, reason_codes, denial_reason, response_note, plus medication fields.
    """
    root = _load(xml)
    header, body = _envelope(root)
    to = header.find("To")
    sender = header.find("From")
    return ParsedMessage(
        message_type=body.tag,
        message_id=_text(header, "MessageID"),
        relates_to_message_id=_text(header, "RelatesToMessageID"),
        from_id=_text(header, "From"),
        from_qualifier=sender.get("Qualifier", "") if sender is not None else "",
        to_id=_text(header, "To"),
        to_qualifier=to.get("Qualifier", "") if to is not None else "",
        prescriber_order_number=_text(header, "PrescriberOrderNumber"),
        rx_reference_number=_text(header, "RxReferenceNumber"),
        sent_time=_text(header, "SentTime"),
        fields=_body_fields(body.tag, body),
    )


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------

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


def validate_new_rx(xml: bytes) -> list[str]:
    """Problems that make this NewRx unacceptable (empty list = fine). Never raises.

    Checks required elements (§1, §2), gender, quantity (> 0, ≤11 characters), the unit code (§5),
    refills (0-99), substitutions, days supply, the DEA schedule code, and that a Schedule II drug has
    no refills (federal law forbids refills of CII prescriptions).
    """
    try:
        root = _load(xml)
        _, message = _envelope(root)
    except NcpdpError as exc:
        return [exc.reason]
    if message.tag != NEW_RX:
        return [f"expected NewRx, got {message.tag}"]

    problems = [f"missing {path}" for path in _REQUIRED_HEADER if not _text(root, path)]
    problems += [f"missing {_NEW_RX}{path}" for path in _REQUIRED_NEW_RX if not _text(message, path)]
    if not _date_text(message, "Patient/HumanPatient/DateOfBirth"):
        problems.append(f"missing {_NEW_RX}Patient/HumanPatient/DateOfBirth")
    if not _date_text(message, "MedicationPrescribed/WrittenDate"):
        problems.append(f"missing {_NEW_RX}MedicationPrescribed/WrittenDate")
    prescriber = message.find("Prescriber/NonVeterinarian")
    if prescriber is None:
        prescriber = message.find("Prescriber/Veterinarian")
    if prescriber is None:
        problems.append(f"missing {_NEW_RX}Prescriber")
    else:
        problems += [
            f"missing {_NEW_RX}Prescriber/{prescriber.tag}/{path}"
            for path in _REQUIRED_PRESCRIBER
            if not _text(prescriber, path)
        ]
    for path, limit in _LENGTH_LIMITS:
        if len(_text(message, path)) > limit:
            problems.append(f"{_NEW_RX}{path} is longer than {limit} characters")

    gender = _text(message, "Patient/HumanPatient/Gender")
    if gender and gender not in ("M", "F", "U"):
        problems.append(f"gender must be M, F or U, not {gender!r}")

    med = message.find("MedicationPrescribed")
    quantity = _text(med, "Quantity/Value")
    if quantity:
        try:
            amount = Decimal(quantity) if _QUANTITY_RE.match(quantity) else None
        except InvalidOperation:
            amount = None
        if amount is None or len(quantity) > 11:
            problems.append(f"quantity {quantity!r} is not a number of at most 11 characters")
        elif amount <= 0:
            problems.append(f"quantity must be positive, not {quantity}")
    unit = _text(med, "Quantity/QuantityUnitOfMeasure/Code")
    if unit and unit not in QUANTITY_UNITS:
        problems.append(f"unknown quantity unit code {unit!r}")

    refills_text = _text(med, "NumberOfRefills")
    refills: int | None = None
    if refills_text:
        if refills_text.isdigit() and int(refills_text) <= MAX_REFILLS:
            refills = int(refills_text)
        else:
            problems.append(f"refills must be 0-{MAX_REFILLS}, not {refills_text!r}")
    substitutions = _text(med, "Substitutions")
    if substitutions and substitutions not in ("0", "1"):
        problems.append(f"substitutions must be 0 or 1, not {substitutions!r}")
    days_supply = _text(med, "DaysSupply")
    if days_supply and not (days_supply.isdigit() and len(days_supply) <= 3 and int(days_supply) > 0):
        problems.append(f"days supply must be 1-999, not {days_supply!r}")

    schedule = _text(med, "DrugCoded/DEASchedule/Code")
    if schedule and schedule not in DEA_SCHEDULES:
        problems.append(f"unknown DEA schedule code {schedule!r}")
    if schedule == DEA_SCHEDULE_II and refills_text and refills != 0:
        problems.append("a Schedule II prescription cannot have refills")
    return problems
