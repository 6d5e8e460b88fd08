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

The control API (``/control/*``) answers only requests with ``Authorization: Bearer <token>``: the token comes
from ``$PHARMACY_SIM_CONTROL_TOKEN`` (the dev stack generates one at start-up and shares it with the product
through the environment) or is generated and printed at start. ``/control/send-*`` posts only to the EHR URL
configured at start (``--target-url`` / ``$PHARMACY_SIM_TARGET_URL``), signed with the payload's ``secret`` or
``$PHARMACY_SIM_SECRET``. The messages themselves are built in ``pharmacy_sim.outbound``.

Counting: ``unique_received`` counts each MessageID answered for good (accepted or permanently
rejected); ``prescriber_order_numbers`` lists the PrescriberOrderNumber of every accepted NewRx, one entry
per unique MessageID, so an order delivered twice under two MessageIDs shows up twice. Simulated
failures (HTTP 503 and transient Errors) are not recorded, so the sender's retry counts as new.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import random
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prescriptions import ncpdp, ncpdp_build, ncpdp_parse, ncpdp_validate

from .outbound import SIM_SOFTWARE, BadRequest, build_outbound, payload_int, payload_text, send_signed

logger = logging.getLogger("pharmacy_sim")

# Configuration from the environment (set by the dev stack and the test fixtures).
ENV_CONTROL_TOKEN = "PHARMACY_SIM_CONTROL_TOKEN"  # nosec - the variable's name, not a secret
ENV_TARGET_URL = "PHARMACY_SIM_TARGET_URL"
ENV_SECRET = "PHARMACY_SIM_SECRET"  # nosec - the variable's name, not a secret

# What a pharmacy receives from a prescriber; anything else is answered "receiver does not support".
PHARMACY_INBOUND = frozenset(
    {ncpdp.NEW_RX, ncpdp.CANCEL_RX, ncpdp.RX_RENEWAL_RESPONSE, ncpdp.RX_CHANGE_RESPONSE}
)
MAX_BODY_BYTES = ncpdp.MAX_MESSAGE_BYTES
MESSAGE_LOG_SIZE = 1000


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
    xml = ncpdp_build.build_error(code, description, header=header, description_codes=codes)
    return Answer(200, xml, f"Error {code}")


def decide(parsed: ncpdp.ParsedMessage, body: bytes, mode: Mode) -> tuple[Answer, bool]:
    """The pharmacy's answer to a message it has not seen before, and whether it accepted it."""
    header = ncpdp.reply_header(parsed, software=SIM_SOFTWARE)
    if parsed.message_type not in PHARMACY_INBOUND:
        description = f"a pharmacy does not accept {parsed.message_type}"
        return _error_answer(ncpdp.ERROR_REJECTED, description, header, ncpdp.DESC_NOT_SUPPORTED), False
    if parsed.message_type == ncpdp.NEW_RX:
        problems = ncpdp_validate.validate_new_rx(body)
        if problems:
            description = "; ".join(problems)
            return _error_answer(ncpdp.ERROR_REJECTED, description, header, ncpdp.DESC_CONTENT_INVALID), False
    blocked = {value.casefold() for value in mode.permanent_error_for}
    last_name = str(parsed.fields.get("patient_last_name", "")).casefold()
    if parsed.prescriber_order_number.casefold() in blocked or (last_name and last_name in blocked):
        description = "rejected by the simulator's permanent_error_for rule"
        return _error_answer(ncpdp.ERROR_REJECTED, description, header, ncpdp.DESC_CONTENT_INVALID), False
    if parsed.fields.get("return_receipt"):
        return Answer(200, ncpdp_build.build_verify(header=header), f"Verify {ncpdp.VERIFY_CODE}"), True
    status = ncpdp_build.build_status(mode.status_code, header=header)
    return Answer(200, status, f"Status {mode.status_code}"), True


def _rate(key: str):
    def check(payload: dict[str, Any]) -> float:
        value = payload[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise BadRequest(f"{key} must be a number from 0 to 1")
        return float(value)

    return check


def _mode_permanent_error_for(payload: dict[str, Any]) -> list[str]:
    values = payload["permanent_error_for"]
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise BadRequest("permanent_error_for must be a list of strings")
    return values


def _mode_delay_ms(payload: dict[str, Any]) -> int:
    delay = payload_int(payload, "delay_ms", 0)
    if delay is None or not 0 <= delay <= 60_000:
        raise BadRequest("delay_ms must be 0-60000")
    return delay


def _mode_delay_count(payload: dict[str, Any]) -> int | None:
    count = payload_int(payload, "delay_count", None)
    if count is not None and count < 1:
        raise BadRequest("delay_count must be a positive integer or null")
    return count


def _mode_status_code(payload: dict[str, Any]) -> str:
    code = payload_text(payload, "status_code")
    if code not in (ncpdp.STATUS_ACCEPTED, ncpdp.STATUS_DELIVERED):
        raise BadRequest('status_code must be "000" or "010"')
    return code


# ``POST /control/mode``: each key's check, returning the value to store.
_MODE_CHECKS = {
    "fail_rate": _rate("fail_rate"),
    "error_rate": _rate("error_rate"),
    "permanent_error_for": _mode_permanent_error_for,
    "delay_ms": _mode_delay_ms,
    "delay_count": _mode_delay_count,
    "status_code": _mode_status_code,
    "seed": lambda payload: payload_int(payload, "seed", None),
}


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


class PharmacySimServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections under a burst of concurrent senders (a 1 s SYN retry).
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        verbose: bool = False,
        control_token: str | None = None,
        target_url: str | None = None,
        secret: str | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.state = SimState()
        self.verbose = verbose
        # The control API answers only requests carrying this token (generated here when none is given).
        self.control_token = control_token or secrets.token_urlsafe(32)
        # The one URL /control/send-* may post to (the EHR's inbound endpoint); None: sending is off.
        self.target_url = target_url or None
        # The pharmacy's shared secret for signing, when the payload gives none.
        self.secret = secret or None


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

    def _control_refused(self, path: str) -> bool:
        """Answer 401 and return True unless a /control/ request carries the control token."""
        if not path.startswith("/control/"):
            return False
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.control_token}"
        if hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8")):
            return False
        body = json.dumps({"error": "the control API needs Authorization: Bearer <control token>"}).encode()
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="pharmacy-sim control"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if self._control_refused(path):
            return
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
        if self._control_refused(path):
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
            parsed = ncpdp_parse.parse_message(body)
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
            xml = ncpdp_build.build_error(
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
        unknown = set(payload) - set(_MODE_CHECKS)
        if unknown:
            raise BadRequest(f"unknown mode keys: {sorted(unknown)}")
        state = self.server.state
        with state.lock:
            current = asdict(state.mode)
        current.update({key: check(payload) for key, check in _MODE_CHECKS.items() if key in payload})
        mode = Mode(**current)
        with state.lock:
            state.mode = mode
            if "seed" in payload:
                state.rng = random.Random(mode.seed)
        self._json(200, asdict(mode))

    def _send_outbound(self, kind: str, payload: dict[str, Any]) -> None:
        target_url = self.server.target_url
        if target_url is None:
            self._json(
                403, {"error": "sending is off: start the simulator with --target-url (the EHR's endpoint)"}
            )
            return
        if payload_text(payload, "target_url", target_url) != target_url:
            self._json(403, {"error": f"target_url must be the configured EHR endpoint {target_url}"})
            return
        secret = payload_text(payload, "secret") or self.server.secret
        pharmacy_id = payload_text(payload, "pharmacy_ncpdp_id")
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


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    verbose: bool = False,
    control_token: str | None = None,
    target_url: str | None = None,
    secret: str | None = None,
) -> PharmacySimServer:
    """A bound, not yet serving simulator; port 0 picks a free port (see ``server_address``). Without a
    control token one is generated (``server.control_token``); without a target URL /control/send-* is off."""
    return PharmacySimServer(
        (host, port), verbose=verbose, control_token=control_token, target_url=target_url, secret=secret
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pharmacy_sim", description="NCPDP SCRIPT pharmacy simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--target-url",
        default=os.environ.get(ENV_TARGET_URL, ""),
        help=f"the EHR's inbound endpoint, the only URL /control/send-* posts to (or ${ENV_TARGET_URL})",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    # The token and the secret come from the environment (never the command line, which any local user can read).
    token = os.environ.get(ENV_CONTROL_TOKEN, "")
    server = make_server(
        args.host,
        args.port,
        verbose=args.verbose,
        control_token=token,
        target_url=args.target_url,
        secret=os.environ.get(ENV_SECRET, ""),
    )
    host, port = server.server_address[:2]
    print(f"pharmacy simulator listening on http://{host}:{port}", file=sys.stderr, flush=True)
    if not token:
        print(f"control API token: {server.control_token}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
