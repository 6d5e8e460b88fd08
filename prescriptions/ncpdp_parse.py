"""NCPDP SCRIPT 2017071: reading a message with a hardened parser (``parse_message``); ``NcpdpError`` on anything it
will not accept. ``xml_load``, ``envelope_check``, ``text_at`` and ``date_at`` are shared with ``ncpdp_validate``.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from .ncpdp import (
    CANCEL_RX,
    CANCEL_RX_RESPONSE,
    ELEMENT_OUTCOMES,
    ERROR,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    NEW_RX,
    RX_CHANGE_REQUEST,
    RX_CHANGE_RESPONSE,
    RX_RENEWAL_REQUEST,
    RX_RENEWAL_RESPONSE,
    RXNORM_QUALIFIERS,
    STATUS,
    VERIFY,
    NcpdpError,
    ParsedMessage,
    is_transient_error,
)

_DOCTYPE_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def xml_load(xml: bytes) -> etree._Element:
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


def text_at(node: etree._Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path)
    if found is None or found.text is None:
        return ""
    return found.text.strip()


def date_at(node: etree._Element | None, path: str) -> str:
    """§2 dates are a Date or a DateTime child; return whichever is there."""
    return text_at(node, f"{path}/Date") or text_at(node, f"{path}/DateTime")


def _medication_fields(med: etree._Element | None) -> dict[str, Any]:
    if med is None:
        return {}
    rxnorm_code = ""
    for db_code in med.findall("DrugCoded/DrugDBCode"):
        if text_at(db_code, "Qualifier") in RXNORM_QUALIFIERS:
            rxnorm_code = text_at(db_code, "Code")
    return {
        "drug_description": text_at(med, "DrugDescription"),
        "rxnorm_code": rxnorm_code,
        "ndc": text_at(med, "DrugCoded/ProductCode/Code")
        if text_at(med, "DrugCoded/ProductCode/Qualifier") == "ND"
        else "",
        "dea_schedule": text_at(med, "DrugCoded/DEASchedule/Code"),
        "quantity": text_at(med, "Quantity/Value"),
        "quantity_qualifier": text_at(med, "Quantity/CodeListQualifier"),
        "quantity_unit": text_at(med, "Quantity/QuantityUnitOfMeasure/Code"),
        "days_supply": text_at(med, "DaysSupply"),
        "written_date": date_at(med, "WrittenDate"),
        "substitutions": text_at(med, "Substitutions"),
        "refills": text_at(med, "NumberOfRefills"),
        "diagnosis_code": text_at(med, "Diagnosis/Primary/Code"),
        "diagnosis_description": text_at(med, "Diagnosis/Primary/Description"),
        "note": text_at(med, "Note"),
        "sig_text": text_at(med, "Sig/SigText"),
    }


def _party_fields(body: etree._Element) -> dict[str, Any]:
    human = body.find("Patient/HumanPatient")
    prescriber = body.find("Prescriber/NonVeterinarian")
    if prescriber is None:
        prescriber = body.find("Prescriber/Veterinarian")
    return {
        "patient_last_name": text_at(human, "Name/LastName"),
        "patient_first_name": text_at(human, "Name/FirstName"),
        "patient_gender": text_at(human, "Gender"),
        "patient_birth_date": date_at(human, "DateOfBirth"),
        "pharmacy_ncpdp_id": text_at(body, "Pharmacy/Identification/NCPDPID"),
        "pharmacy_name": text_at(body, "Pharmacy/BusinessName"),
        "prescriber_npi": text_at(prescriber, "Identification/NPI"),
        "prescriber_dea": text_at(prescriber, "Identification/DEANumber"),
        "return_receipt": body.find("ReturnReceipt") is not None,
    }


def _response_fields(body: etree._Element) -> dict[str, Any]:
    response = body.find("Response")
    choice = response[0] if response is not None and len(response) else None
    if choice is None or choice.tag not in ELEMENT_OUTCOMES:
        raise NcpdpError(f"{body.tag} has no recognised Response")
    return {
        "outcome": ELEMENT_OUTCOMES[choice.tag],
        "reason_codes": [code.text.strip() for code in choice.findall("ReasonCode") if code.text],
        "denial_reason": text_at(choice, "DenialReason"),
        "response_note": text_at(choice, "Note"),
    }


def _body_fields(message_type: str, body: etree._Element) -> dict[str, Any]:
    """The interesting values per message type; all are strings (or lists / bools) as written."""
    if message_type in (STATUS, VERIFY):
        status = body if message_type == STATUS else body.find("VerifyStatus")
        return {"code": text_at(status, "Code"), "description": text_at(status, "Description")}
    if message_type == ERROR:
        return {
            "code": text_at(body, "Code"),
            "description_codes": [c.text.strip() for c in body.findall("DescriptionCode") if c.text],
            "description": text_at(body, "Description"),
            "transient": is_transient_error(text_at(body, "Code")),
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
        fields["request_code"] = text_at(body, "MessageRequestCode")
        fields["request_subcodes"] = [c.text.strip() for c in body.findall("MessageRequestSubCode") if c.text]
        fields["prescribed"] = _medication_fields(body.find("MedicationPrescribed"))
        fields["requested"] = requested
    elif message_type == RX_RENEWAL_RESPONSE:
        fields |= _response_fields(body) | _medication_fields(body.find("MedicationResponse"))
    elif message_type == RX_CHANGE_RESPONSE:
        fields |= _response_fields(body) | _medication_fields(body.find("MedicationPrescribed"))
        fields["request_code"] = text_at(body, "MessageRequestCode")
    elif message_type == CANCEL_RX_RESPONSE:
        fields |= _response_fields(body) | _medication_fields(body.find("MedicationPrescribed"))
    return fields


def envelope_check(root: etree._Element) -> tuple[etree._Element, etree._Element]:
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
    if not text_at(header, "MessageID"):
        raise NcpdpError("Header/MessageID is missing")
    if len(text_at(header, "MessageID")) > 35:
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
    root = xml_load(xml)
    header, body = envelope_check(root)
    to = header.find("To")
    sender = header.find("From")
    return ParsedMessage(
        message_type=body.tag,
        message_id=text_at(header, "MessageID"),
        relates_to_message_id=text_at(header, "RelatesToMessageID"),
        from_id=text_at(header, "From"),
        from_qualifier=sender.get("Qualifier", "") if sender is not None else "",
        to_id=text_at(header, "To"),
        to_qualifier=to.get("Qualifier", "") if to is not None else "",
        prescriber_order_number=text_at(header, "PrescriberOrderNumber"),
        rx_reference_number=text_at(header, "RxReferenceNumber"),
        sent_time=text_at(header, "SentTime"),
        fields=_body_fields(body.tag, body),
    )
