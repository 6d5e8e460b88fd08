"""The pharmacy simulator's own messages (``/control/send-*``): a renewal or change request, a CancelRxResponse,
or an asynchronous Status, Verify or Error, built from a JSON payload and POSTed to the EHR signed with the
pharmacy's shared secret (``prescriptions.signing``)."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from prescriptions import ncpdp, ncpdp_build
from prescriptions.signing import sign_request

SIM_SOFTWARE = ncpdp.SenderSoftware(developer="openehr-clinic", product="pharmacy-sim", version="0.1.0")
SEND_TIMEOUT_SECONDS = 10


class BadRequest(ValueError):
    pass


def payload_text(payload: dict[str, Any], key: str, default: str = "") -> str:
    value = payload.get(key, default)
    if not isinstance(value, str | int):
        raise BadRequest(f"{key} must be a string")
    return str(value)


def payload_int(payload: dict[str, Any], key: str, default: int | None) -> int | None:
    value = payload.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadRequest(f"{key} must be an integer")
    return value


def _medication(payload: dict[str, Any]) -> ncpdp.MedicationData:
    try:
        quantity = Decimal(str(payload.get("quantity", "30")))
        written = date.fromisoformat(payload_text(payload, "written_date", date.today().isoformat()))
    except (InvalidOperation, ValueError) as exc:
        raise BadRequest(f"bad quantity or written_date: {exc}") from None
    return ncpdp.MedicationData(
        description=payload_text(payload, "drug_description", "Lisinopril 10 MG Oral Tablet"),
        quantity=quantity,
        quantity_unit=payload_text(payload, "quantity_unit", "C48542"),
        written_date=written,
        sig_text=payload_text(payload, "sig_text", "Take 1 tablet by mouth once daily"),
        refills=payload_int(payload, "refills", 0) or 0,
        days_supply=payload_int(payload, "days_supply", None),
        rxnorm_code=payload_text(payload, "rxnorm_code"),
        ndc=payload_text(payload, "ndc"),
        dea_schedule=payload_text(payload, "dea_schedule"),
        note=payload_text(payload, "note"),
    )


def _parties(payload: dict[str, Any]) -> tuple[ncpdp.PatientData, ncpdp.PharmacyData, ncpdp.PrescriberData]:
    # Fictional defaults: the EHR matches the message on PrescriberOrderNumber / RelatesToMessageID.
    address = ncpdp.AddressData(line1="1 Main St", city="Springfield", state="IL", postal_code="62701")
    try:
        birth_date = date.fromisoformat(payload_text(payload, "patient_birth_date", "1970-01-01"))
    except ValueError as exc:
        raise BadRequest(f"bad patient_birth_date: {exc}") from None
    patient = ncpdp.PatientData(
        last_name=payload_text(payload, "patient_last_name", "Doe"),
        first_name=payload_text(payload, "patient_first_name", "Jane"),
        gender=payload_text(payload, "patient_gender", "U"),
        birth_date=birth_date,
        address=address,
    )
    pharmacy = ncpdp.PharmacyData(
        ncpdp_id=payload_text(payload, "pharmacy_ncpdp_id"),
        npi=payload_text(payload, "pharmacy_npi", "1234567893"),
        name=payload_text(payload, "pharmacy_name", "Simulated Pharmacy"),
        phone="2175550100",
        address=address,
    )
    prescriber = ncpdp.PrescriberData(
        npi=payload_text(payload, "prescriber_npi", "1245319599"),
        last_name=payload_text(payload, "prescriber_last_name", "Prescriber"),
        first_name=payload_text(payload, "prescriber_first_name", "Pat"),
        address=address,
        phone="2175550199",
    )
    return patient, pharmacy, prescriber


def _string_list(payload: dict[str, Any], key: str) -> tuple[str, ...]:
    values = payload.get(key, [])
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise BadRequest(f"{key} must be a list of strings")
    return tuple(values)


def _outbound_header(payload: dict[str, Any]) -> ncpdp.MessageHeader:
    return ncpdp.MessageHeader(
        to_id=payload_text(payload, "prescriber_id", "0000000000001"),
        to_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
        from_id=payload_text(payload, "pharmacy_ncpdp_id"),
        from_qualifier=ncpdp.QUALIFIER_PHARMACY,
        message_id=payload_text(payload, "message_id") or ncpdp.new_message_id(),
        relates_to_message_id=payload_text(payload, "relates_to_message_id"),
        prescriber_order_number=payload_text(payload, "prescriber_order_number"),
        rx_reference_number=payload_text(payload, "rx_reference_number"),
        software=SIM_SOFTWARE,
    )


def _prescribed(payload: dict[str, Any]) -> ncpdp.MedicationData | None:
    prescribed_payload = payload.get("prescribed")
    if prescribed_payload is not None and not isinstance(prescribed_payload, dict):
        raise BadRequest("prescribed must be an object")
    return _medication(prescribed_payload) if prescribed_payload else None


def _renewal_request(payload: dict[str, Any], header: ncpdp.MessageHeader) -> bytes:
    patient, pharmacy, prescriber = _parties(payload)
    medication = _medication(payload)
    return ncpdp_build.build_rx_renewal_request(
        ncpdp.RxRenewalRequestData(header, patient, pharmacy, prescriber, medication, _prescribed(payload))
    )


def _change_request(payload: dict[str, Any], header: ncpdp.MessageHeader) -> bytes:
    patient, pharmacy, prescriber = _parties(payload)
    medication = _medication(payload)
    prescribed = _prescribed(payload)
    subcodes = _string_list(payload, "request_subcodes")
    options = payload.get("requested")
    if options is not None and (
        not isinstance(options, list) or not all(isinstance(o, dict) for o in options) or len(options) > 9
    ):
        raise BadRequest("requested must be a list of at most 9 objects")
    requested = tuple(_medication(o) for o in options) if options else (medication,)
    return ncpdp_build.build_rx_change_request(
        ncpdp.RxChangeRequestData(
            header=header,
            request_code=payload_text(payload, "request_code", "G"),
            patient=patient,
            pharmacy=pharmacy,
            prescriber=prescriber,
            prescribed=prescribed or medication,
            requested=requested,
            request_subcodes=subcodes,
        )
    )


def _cancel_response(payload: dict[str, Any], header: ncpdp.MessageHeader) -> bytes:
    patient, pharmacy, prescriber = _parties(payload)
    medication = _medication(payload)
    _prescribed(payload)
    return ncpdp_build.build_cancel_rx_response(
        ncpdp.CancelRxResponseData(
            header=header,
            approved=bool(payload.get("approved", True)),
            patient=patient,
            pharmacy=pharmacy,
            prescriber=prescriber,
            medication=medication,
            reason_codes=_string_list(payload, "reason_codes"),
            denial_reason=payload_text(payload, "denial_reason"),
            note=payload_text(payload, "response_note"),
        )
    )


_REQUESTS = {"renewal": _renewal_request, "change": _change_request, "cancel-response": _cancel_response}


def build_outbound(kind: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """Build the message a ``/control/send-<kind>`` call asks for; returns (MessageID, XML)."""
    if kind in ("status", "verify", "error"):
        return build_answer(kind, payload)
    header = _outbound_header(payload)
    return header.message_id, _REQUESTS.get(kind, _cancel_response)(payload, header)


def build_answer(kind: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """An asynchronous Status, Verify or Error about an earlier message (reference §3, §6)."""
    relates = payload_text(payload, "relates_to_message_id")
    if not relates:
        raise BadRequest("relates_to_message_id is required")
    header = ncpdp.MessageHeader(
        to_id=payload_text(payload, "prescriber_id", "0000000000001"),
        to_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
        from_id=payload_text(payload, "pharmacy_ncpdp_id"),
        from_qualifier=ncpdp.QUALIFIER_PHARMACY,
        message_id=payload_text(payload, "message_id") or ncpdp.new_message_id(),
        relates_to_message_id=relates,
        prescriber_order_number=payload_text(payload, "prescriber_order_number"),
        software=SIM_SOFTWARE,
    )
    description = payload_text(payload, "description")
    if kind == "status":
        xml = ncpdp_build.build_status(
            payload_text(payload, "code", ncpdp.STATUS_DELIVERED), description, header=header
        )
    elif kind == "verify":
        xml = ncpdp_build.build_verify(description, header=header)
    else:
        codes = _string_list(payload, "description_codes")
        xml = ncpdp_build.build_error(
            payload_text(payload, "code", ncpdp.ERROR_REJECTED),
            description or "rejected by the pharmacy",
            header=header,
            description_codes=codes,
        )
    return header.message_id, xml


def send_signed(target_url: str, secret: str, pharmacy_id: str, xml: bytes) -> tuple[int, str]:
    """POST ``xml`` to the EHR with the HMAC headers; returns (HTTP status, response body)."""
    headers = {"Content-Type": "application/xml", **sign_request(secret, xml, pharmacy_id=pharmacy_id)}
    request = urllib.request.Request(target_url, data=xml, headers=headers, method="POST")  # noqa: S310
    try:
        # The scheme was checked to be http(s) by the caller.
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
