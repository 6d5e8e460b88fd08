"""NCPDP SCRIPT 2017071 messages: the vocabulary. Vendor-neutral, pure Python + lxml.

Section numbers (§) refer to docs of the standard restated in our own words (the project's NCPDP reference
notes); the standard's own schemas are member-licensed and are not used or shipped here.

This module is the vocabulary: codes, limits and the message dataclasses. Building is in ``ncpdp_build``,
reading in ``ncpdp_parse`` and checking a NewRx in ``ncpdp_validate``.

No Django and no database here: the prescriptions services map their models onto these dataclasses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# §1: the five version attributes are free text; public 2017071 traffic uses 20170715 for all of them.
SCRIPT_VERSION = "20170715"
MESSAGE_ATTRIBUTES = {
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
OUTCOME_ELEMENTS = {
    OUTCOME_APPROVED: "Approved",
    OUTCOME_APPROVED_WITH_CHANGES: "ApprovedWithChanges",
    OUTCOME_DENIED: "Denied",
    OUTCOME_REPLACE: "Replace",
    OUTCOME_VALIDATED: "Validated",
}
ELEMENT_OUTCOMES = {element: outcome for outcome, element in OUTCOME_ELEMENTS.items()}

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
