"""The pharmacy simulator: a stdlib HTTP server that answers SCRIPT messages like a pharmacy would.

Endpoints:

- ``POST /ncpdp`` (application/xml): NewRx, CancelRx, RxRenewalResponse, RxChangeResponse. Answers with a
  SCRIPT Status 010 (accepted by the pharmacy), a Verify when the message asked for a ReturnReceipt, or
  an Error. A repeated MessageID gets the first answer again and is counted only as a duplicate
  delivery (the network retries, reference §6).
- ``GET /control/stats``, ``POST /control/reset``, ``POST /control/mode`` (fault injection: 503s, transient
  Errors, permanent rejections, a delay for all or only the next N requests, answering Status 000 "accepted by
  the network, final answer to come" instead of 010),
  ``POST /control/send-renewal``, ``/control/send-change``, ``/control/send-cancel-response`` (the pharmacy
  starts a conversation: builds the message, signs it with ``prescriptions.signing`` and POSTs it to the
  EHR), ``/control/send-status``, ``/control/send-verify``, ``/control/send-error`` (an asynchronous answer
  about an earlier message: ``relates_to_message_id``), ``GET /healthz``.

Counting: ``unique_received`` counts each MessageID answered for good (accepted or permanently
rejected); ``prescriber_order_numbers`` lists the PrescriberOrderNumber of every accepted NewRx, one entry
per unique MessageID, so an order delivered twice under two MessageIDs shows up twice. Simulated
failures (HTTP 503 and transient Errors) are not recorded, so the sender's retry counts as new.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prescriptions import ncpdp
from prescriptions.signing import sign_request

logger = logging.getLogger("pharmacy_sim")

SIM_SOFTWARE = ncpdp.SenderSoftware(developer="openehr-clinic", product="pharmacy-sim", version="0.1.0")
# What a pharmacy receives from a prescriber; anything else is answered "receiver does not support".
PHARMACY_INBOUND = frozenset(
    {ncpdp.NEW_RX, ncpdp.CANCEL_RX, ncpdp.RX_RENEWAL_RESPONSE, ncpdp.RX_CHANGE_RESPONSE}
)
MAX_BODY_BYTES = ncpdp.MAX_MESSAGE_BYTES
MESSAGE_LOG_SIZE = 1000
SEND_TIMEOUT_SECONDS = 10


@dataclass
class Mode:
    """Fault injection settings, changed with ``POST /control/mode``."""

    fail_rate: float = 0.0  # share of requests answered HTTP 503 before anything is read
    error_rate: float = 0.0  # share answered with a transient SCRIPT Error (602)
    permanent_error_for: list[str] = field(default_factory=list)  # order numbers or patient last names
    delay_ms: int = 0
    delay_count: int | None = None  # delay only the next N requests (None: every request)
    status_code: str = ncpdp.STATUS_DELIVERED  # "000": accepted by the network only, final answer to come
    seed: int | None = None


@dataclass(frozen=True)
class Answer:
    http_status: int
    body: bytes
    summary: str  # e.g. "Status 010", for the message log


class SimState:
    """Counters and the de-duplication table; every access goes through ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.mode = Mode()
        self.rng = random.Random()
        self.answers: dict[str, Answer] = {}
        self.messages: deque[dict[str, Any]] = deque(maxlen=MESSAGE_LOG_SIZE)
        self.by_type: Counter[str] = Counter()
        self.prescriber_order_numbers: list[str] = []
        self.unique_received = 0
        self.duplicate_deliveries = 0
        self.accepted = 0
        self.rejected = 0
        self.simulated_503 = 0
        self.simulated_transient_errors = 0

    def reset(self) -> None:
        with self.lock:
            self._clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "unique_received": self.unique_received,
                "duplicate_deliveries": self.duplicate_deliveries,
                "duplicates_seen": self.duplicate_deliveries,
                "accepted": self.accepted,
                "rejected": self.rejected,
                "simulated_failures": {
                    "http_503": self.simulated_503,
                    "transient_errors": self.simulated_transient_errors,
                },
                "by_type": dict(self.by_type),
                "prescriber_order_numbers": list(self.prescriber_order_numbers),
                "messages": list(self.messages),
                "mode": asdict(self.mode),
            }

    def roll(self) -> tuple[Mode, bool, bool]:
        """The current mode and whether this request fails (503) or gets a transient Error."""
        with self.lock:
            mode = self.mode
            if mode.delay_ms and mode.delay_count is not None:
                # A limited number of slow answers: this request uses one up.
                remaining = mode.delay_count - 1
                self.mode = Mode(
                    **{
                        **asdict(mode),
                        "delay_count": remaining or None,
                        "delay_ms": mode.delay_ms if remaining else 0,
                    }
                )
            fail = mode.fail_rate > 0 and self.rng.random() < mode.fail_rate
            transient = not fail and mode.error_rate > 0 and self.rng.random() < mode.error_rate
            if fail:
                self.simulated_503 += 1
            if transient:
                self.simulated_transient_errors += 1
            return mode, fail, transient

    def cached(self, message_id: str) -> Answer | None:
        with self.lock:
            answer = self.answers.get(message_id)
            if answer is not None:
                self.duplicate_deliveries += 1
            return answer

    def record(self, parsed: ncpdp.ParsedMessage, answer: Answer, accepted: bool) -> Answer:
        """Store the first answer for this MessageID; if a concurrent delivery won the race, return its."""
        with self.lock:
            earlier = self.answers.get(parsed.message_id)
            if earlier is not None:
                self.duplicate_deliveries += 1
                return earlier
            self.answers[parsed.message_id] = answer
            self.unique_received += 1
            self.by_type[parsed.message_type] += 1
            if accepted:
                self.accepted += 1
                if parsed.message_type == ncpdp.NEW_RX:
                    self.prescriber_order_numbers.append(parsed.prescriber_order_number)
            else:
                self.rejected += 1
            self.messages.append(
                {
                    "message_type": parsed.message_type,
                    "message_id": parsed.message_id,
                    "relates_to_message_id": parsed.relates_to_message_id,
                    "prescriber_order_number": parsed.prescriber_order_number,
                    "received_at": datetime.now(UTC).isoformat(),
                    "accepted": accepted,
                    "answer": answer.summary,
                    "from_id": parsed.from_id,
                    "drug_description": parsed.fields.get("drug_description", ""),
                    "outcome": parsed.fields.get("outcome", ""),
                    "refills": parsed.fields.get("refills", ""),
                    "diagnosis_code": parsed.fields.get("diagnosis_code", ""),
                    "diagnosis_description": parsed.fields.get("diagnosis_description", ""),
                }
            )
            return answer


def _error_answer(code: str, description: str, header: ncpdp.MessageHeader, *codes: str) -> Answer:
    xml = ncpdp.build_error(code, description, header=header, description_codes=codes)
    return Answer(200, xml, f"Error {code}")


def decide(parsed: ncpdp.ParsedMessage, body: bytes, mode: Mode) -> tuple[Answer, bool]:
    """The pharmacy's answer to a message it has not seen before, and whether it accepted it."""
    header = ncpdp.reply_header(parsed, software=SIM_SOFTWARE)
    if parsed.message_type not in PHARMACY_INBOUND:
        description = f"a pharmacy does not accept {parsed.message_type}"
        return _error_answer(ncpdp.ERROR_REJECTED, description, header, ncpdp.DESC_NOT_SUPPORTED), False
    if parsed.message_type == ncpdp.NEW_RX:
        problems = ncpdp.validate_new_rx(body)
        if problems:
            description = "; ".join(problems)
            return _error_answer(ncpdp.ERROR_REJECTED, description, header, ncpdp.DESC_CONTENT_INVALID), False
    blocked = {value.casefold() for value in mode.permanent_error_for}
    last_name = str(parsed.fields.get("patient_last_name", "")).casefold()
    if parsed.prescriber_order_number.casefold() in blocked or (last_name and last_name in blocked):
        description = "rejected by the simulator's permanent_error_for rule"
        return _error_answer(ncpdp.ERROR_REJECTED, description, header, ncpdp.DESC_CONTENT_INVALID), False
    if parsed.fields.get("return_receipt"):
        return Answer(200, ncpdp.build_verify(header=header), f"Verify {ncpdp.VERIFY_CODE}"), True
    status = ncpdp.build_status(mode.status_code, header=header)
    return Answer(200, status, f"Status {mode.status_code}"), True


# --------------------------------------------------------------------------------------------------
# Pharmacy-initiated messages (/control/send-*)
# --------------------------------------------------------------------------------------------------


class BadRequest(ValueError):
    pass


def _text(payload: dict[str, Any], key: str, default: str = "") -> str:
    value = payload.get(key, default)
    if not isinstance(value, str | int):
        raise BadRequest(f"{key} must be a string")
    return str(value)


def _int(payload: dict[str, Any], key: str, default: int | None) -> int | None:
    value = payload.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadRequest(f"{key} must be an integer")
    return value


def _medication(payload: dict[str, Any]) -> ncpdp.MedicationData:
    try:
        quantity = Decimal(str(payload.get("quantity", "30")))
        written = date.fromisoformat(_text(payload, "written_date", date.today().isoformat()))
    except (InvalidOperation, ValueError) as exc:
        raise BadRequest(f"bad quantity or written_date: {exc}") from None
    return ncpdp.MedicationData(
        description=_text(payload, "drug_description", "Lisinopril 10 MG Oral Tablet"),
        quantity=quantity,
        quantity_unit=_text(payload, "quantity_unit", "C48542"),
        written_date=written,
        sig_text=_text(payload, "sig_text", "Take 1 tablet by mouth once daily"),
        refills=_int(payload, "refills", 0) or 0,
        days_supply=_int(payload, "days_supply", None),
        rxnorm_code=_text(payload, "rxnorm_code"),
        ndc=_text(payload, "ndc"),
        dea_schedule=_text(payload, "dea_schedule"),
        note=_text(payload, "note"),
    )


def _parties(payload: dict[str, Any]) -> tuple[ncpdp.PatientData, ncpdp.PharmacyData, ncpdp.PrescriberData]:
    # Fictional defaults: the EHR matches the message on PrescriberOrderNumber / RelatesToMessageID.
    address = ncpdp.AddressData(line1="1 Main St", city="Springfield", state="IL", postal_code="62701")
    try:
        birth_date = date.fromisoformat(_text(payload, "patient_birth_date", "1970-01-01"))
    except ValueError as exc:
        raise BadRequest(f"bad patient_birth_date: {exc}") from None
    patient = ncpdp.PatientData(
        last_name=_text(payload, "patient_last_name", "Doe"),
        first_name=_text(payload, "patient_first_name", "Jane"),
        gender=_text(payload, "patient_gender", "U"),
        birth_date=birth_date,
        address=address,
    )
    pharmacy = ncpdp.PharmacyData(
        ncpdp_id=_text(payload, "pharmacy_ncpdp_id"),
        npi=_text(payload, "pharmacy_npi", "1234567893"),
        name=_text(payload, "pharmacy_name", "Simulated Pharmacy"),
        phone="2175550100",
        address=address,
    )
    prescriber = ncpdp.PrescriberData(
        npi=_text(payload, "prescriber_npi", "1245319599"),
        last_name=_text(payload, "prescriber_last_name", "Prescriber"),
        first_name=_text(payload, "prescriber_first_name", "Pat"),
        address=address,
        phone="2175550199",
    )
    return patient, pharmacy, prescriber


def build_outbound(kind: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """Build the message a ``/control/send-<kind>`` call asks for; returns (MessageID, XML)."""
    if kind in ("status", "verify", "error"):
        return build_answer(kind, payload)
    header = ncpdp.MessageHeader(
        to_id=_text(payload, "prescriber_id", "0000000000001"),
        to_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
        from_id=_text(payload, "pharmacy_ncpdp_id"),
        from_qualifier=ncpdp.QUALIFIER_PHARMACY,
        message_id=_text(payload, "message_id") or ncpdp.new_message_id(),
        relates_to_message_id=_text(payload, "relates_to_message_id"),
        prescriber_order_number=_text(payload, "prescriber_order_number"),
        rx_reference_number=_text(payload, "rx_reference_number"),
        software=SIM_SOFTWARE,
    )
    patient, pharmacy, prescriber = _parties(payload)
    medication = _medication(payload)
    prescribed_payload = payload.get("prescribed")
    if prescribed_payload is not None and not isinstance(prescribed_payload, dict):
        raise BadRequest("prescribed must be an object")
    prescribed = _medication(prescribed_payload) if prescribed_payload else None
    if kind == "renewal":
        xml = ncpdp.build_rx_renewal_request(
            ncpdp.RxRenewalRequestData(header, patient, pharmacy, prescriber, medication, prescribed)
        )
    elif kind == "change":
        subcodes = payload.get("request_subcodes", [])
        if not isinstance(subcodes, list) or not all(isinstance(code, str) for code in subcodes):
            raise BadRequest("request_subcodes must be a list of strings")
        options = payload.get("requested")
        if options is not None and (
            not isinstance(options, list) or not all(isinstance(o, dict) for o in options) or len(options) > 9
        ):
            raise BadRequest("requested must be a list of at most 9 objects")
        requested = tuple(_medication(o) for o in options) if options else (medication,)
        xml = ncpdp.build_rx_change_request(
            ncpdp.RxChangeRequestData(
                header=header,
                request_code=_text(payload, "request_code", "G"),
                patient=patient,
                pharmacy=pharmacy,
                prescriber=prescriber,
                prescribed=prescribed or medication,
                requested=requested,
                request_subcodes=tuple(subcodes),
            )
        )
    else:
        reason_codes = payload.get("reason_codes", [])
        if not isinstance(reason_codes, list) or not all(isinstance(code, str) for code in reason_codes):
            raise BadRequest("reason_codes must be a list of strings")
        xml = ncpdp.build_cancel_rx_response(
            ncpdp.CancelRxResponseData(
                header=header,
                approved=bool(payload.get("approved", True)),
                patient=patient,
                pharmacy=pharmacy,
                prescriber=prescriber,
                medication=medication,
                reason_codes=tuple(reason_codes),
                denial_reason=_text(payload, "denial_reason"),
                note=_text(payload, "response_note"),
            )
        )
    return header.message_id, xml


def build_answer(kind: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """An asynchronous Status, Verify or Error about an earlier message (reference §3, §6)."""
    relates = _text(payload, "relates_to_message_id")
    if not relates:
        raise BadRequest("relates_to_message_id is required")
    header = ncpdp.MessageHeader(
        to_id=_text(payload, "prescriber_id", "0000000000001"),
        to_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
        from_id=_text(payload, "pharmacy_ncpdp_id"),
        from_qualifier=ncpdp.QUALIFIER_PHARMACY,
        message_id=_text(payload, "message_id") or ncpdp.new_message_id(),
        relates_to_message_id=relates,
        prescriber_order_number=_text(payload, "prescriber_order_number"),
        software=SIM_SOFTWARE,
    )
    description = _text(payload, "description")
    if kind == "status":
        xml = ncpdp.build_status(_text(payload, "code", ncpdp.STATUS_DELIVERED), description, header=header)
    elif kind == "verify":
        xml = ncpdp.build_verify(description, header=header)
    else:
        codes = payload.get("description_codes", [])
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise BadRequest("description_codes must be a list of strings")
        xml = ncpdp.build_error(
            _text(payload, "code", ncpdp.ERROR_REJECTED),
            description or "rejected by the pharmacy",
            header=header,
            description_codes=tuple(codes),
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


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


class PharmacySimServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections under a burst of concurrent senders (a 1 s SYN retry).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], *, verbose: bool = False) -> None:
        super().__init__(address, Handler)
        self.state = SimState()
        self.verbose = verbose


class Handler(BaseHTTPRequestHandler):
    # Keep-alive lets a load test reuse connections; every answer sets Content-Length.
    protocol_version = "HTTP/1.1"
    server: PharmacySimServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            logger.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._json(411, {"error": "Content-Length required"})
            self.close_connection = True
            return None
        if int(length) > MAX_BODY_BYTES:
            self._send(413, b"request too large\n", "text/plain", close=True)
            return None
        return self.rfile.read(int(length))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._json(200, {"ok": True})
        elif path == "/control/stats":
            self._json(200, self.server.state.stats())
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path == "/ncpdp":
            self._ncpdp(body)
            return
        controls = {
            "/control/reset": self._reset,
            "/control/mode": self._mode,
            "/control/send-renewal": lambda payload: self._send_outbound("renewal", payload),
            "/control/send-change": lambda payload: self._send_outbound("change", payload),
            "/control/send-cancel-response": lambda payload: self._send_outbound("cancel-response", payload),
            "/control/send-status": lambda payload: self._send_outbound("status", payload),
            "/control/send-verify": lambda payload: self._send_outbound("verify", payload),
            "/control/send-error": lambda payload: self._send_outbound("error", payload),
        }
        handler = controls.get(path)
        if handler is None:
            self._json(404, {"error": "not found"})
            return
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            self._json(400, {"error": "body must be JSON"})
            return
        if not isinstance(payload, dict):
            self._json(400, {"error": "body must be a JSON object"})
            return
        try:
            handler(payload)
        except BadRequest as exc:
            self._json(400, {"error": str(exc)})

    def _ncpdp(self, body: bytes) -> None:
        state = self.server.state
        mode, fail, transient = state.roll()
        if mode.delay_ms:
            time.sleep(mode.delay_ms / 1000)
        if fail:
            self._send(503, b"simulated outage\n", "text/plain")
            return
        try:
            parsed = ncpdp.parse_message(body)
        except ncpdp.NcpdpError as exc:
            # Nothing to relate the Error to: the MessageID could not be read.
            header = ncpdp.MessageHeader(
                to_id="unknown",
                to_qualifier="ZZZ",
                from_id="pharmacy-sim",
                from_qualifier="ZZZ",
                message_id=ncpdp.new_message_id(),
                software=SIM_SOFTWARE,
            )
            xml = ncpdp.build_error(
                ncpdp.ERROR_REJECTED, exc.reason, header=header, description_codes=(ncpdp.DESC_XML_SYNTAX,)
            )
            self._send(400, xml, "application/xml")
            return
        if transient:
            # Not recorded: the sender retries with the same MessageID and that counts as the first delivery.
            header = ncpdp.reply_header(parsed, software=SIM_SOFTWARE)
            answer = _error_answer(
                ncpdp.ERROR_RECEIVER_SYSTEM,
                "simulated receiver system error",
                header,
                ncpdp.DESC_SYSTEM_ERROR,
            )
            self._send(answer.http_status, answer.body, "application/xml")
            return
        answer = state.cached(parsed.message_id)
        if answer is None:
            fresh, accepted = decide(parsed, body, mode)
            answer = state.record(parsed, fresh, accepted)
        self._send(answer.http_status, answer.body, "application/xml")

    def _reset(self, payload: dict[str, Any]) -> None:
        self.server.state.reset()
        self._json(200, {"ok": True})

    def _mode(self, payload: dict[str, Any]) -> None:
        """Partial update: keys not given keep their value. A seed restarts the random sequence."""
        unknown = set(payload) - {
            "fail_rate",
            "error_rate",
            "permanent_error_for",
            "delay_ms",
            "delay_count",
            "status_code",
            "seed",
        }
        if unknown:
            raise BadRequest(f"unknown mode keys: {sorted(unknown)}")
        state = self.server.state
        with state.lock:
            current = asdict(state.mode)
        for key in ("fail_rate", "error_rate"):
            if key in payload:
                value = payload[key]
                if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                    raise BadRequest(f"{key} must be a number from 0 to 1")
                current[key] = float(value)
        if "permanent_error_for" in payload:
            values = payload["permanent_error_for"]
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                raise BadRequest("permanent_error_for must be a list of strings")
            current["permanent_error_for"] = values
        if "delay_ms" in payload:
            delay = _int(payload, "delay_ms", 0)
            if delay is None or not 0 <= delay <= 60_000:
                raise BadRequest("delay_ms must be 0-60000")
            current["delay_ms"] = delay
        if "delay_count" in payload:
            count = _int(payload, "delay_count", None)
            if count is not None and count < 1:
                raise BadRequest("delay_count must be a positive integer or null")
            current["delay_count"] = count
        if "status_code" in payload:
            code = _text(payload, "status_code")
            if code not in (ncpdp.STATUS_ACCEPTED, ncpdp.STATUS_DELIVERED):
                raise BadRequest('status_code must be "000" or "010"')
            current["status_code"] = code
        if "seed" in payload:
            current["seed"] = _int(payload, "seed", None)
        mode = Mode(**current)
        with state.lock:
            state.mode = mode
            if "seed" in payload:
                state.rng = random.Random(mode.seed)
        self._json(200, asdict(mode))

    def _send_outbound(self, kind: str, payload: dict[str, Any]) -> None:
        target_url = _text(payload, "target_url")
        if urlsplit(target_url).scheme not in ("http", "https"):
            raise BadRequest("target_url must be an http(s) URL")
        secret = _text(payload, "secret")
        pharmacy_id = _text(payload, "pharmacy_ncpdp_id")
        if not secret or not pharmacy_id:
            raise BadRequest("secret and pharmacy_ncpdp_id are required")
        try:
            message_id, xml = build_outbound(kind, payload)
        except ValueError as exc:  # the builders refuse impossible content (e.g. quantity 0)
            raise BadRequest(str(exc)) from None
        try:
            status, response = send_signed(target_url, secret, pharmacy_id, xml)
        except (urllib.error.URLError, OSError) as exc:
            self._json(502, {"message_id": message_id, "error": f"could not reach {target_url}: {exc}"})
            return
        self._json(200, {"message_id": message_id, "status": status, "response": response})


def make_server(host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False) -> PharmacySimServer:
    """A bound, not yet serving simulator; port 0 picks a free port (see ``server_address``)."""
    return PharmacySimServer((host, port), verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pharmacy_sim", description="NCPDP SCRIPT pharmacy simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    server = make_server(args.host, args.port, verbose=args.verbose)
    host, port = server.server_address[:2]
    print(f"pharmacy simulator listening on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
