"""The laboratory simulator: takes HL7 v2.5.1 orders (ORM^O01) over MLLP and answers with results (ORU^R01)
sent to the EHR's MLLP listener, like a reference lab's interface engine would.

- MLLP (``--mllp-port``): each ORM^O01 gets an ACK. A control id seen before gets the first answer again and is
  counted only as a duplicate delivery. Fault injection (``/control/mode``): ``nak_rate`` (AR: "busy, send
  again"), ``silent_rate`` (the connection closes with no answer), ``error_for`` (AE for these family names).
- A cancel (ORM^O01 with ORC-1 CA) is acknowledged (AA) and the order's results not yet sent are withheld.
- Results: for each accepted order, a preliminary result after ``prelim_delay`` seconds (for panels) and the final
  one after ``final_delay``; values drawn from the test's typical range (data/orders/lab_tests.json), a few
  abnormal, and critical ones for the family names in ``critical_for``. A result that got no ACK is sent again,
  same bytes and control id, until the EHR answers.
- Control API (HTTP, ``--http-port``, ``Authorization: Bearer $LAB_SIM_CONTROL_TOKEN``): ``GET /healthz``,
  ``GET /control/stats``, ``POST /control/reset``, ``POST /control/mode``, ``POST /control/send-correction``
  ({placer_number, value}), ``/control/send-unsolicited`` ({mrn, family, given, birth_date, sex, loinc}),
  ``/control/send-unknown-patient`` ({}), ``/control/send-raw`` ({hl7}: exactly these bytes, for fault tests).

Shares only the wire format with the product (``orders.hl7wire``, a plain module); the product never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import logging
import os
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orders import hl7wire

logger = logging.getLogger("lab_sim")
CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "orders" / "lab_tests.json"
FACILITY = "LABSIM"


@dataclass
class Mode:
    nak_rate: float = 0.0
    silent_rate: float = 0.0
    error_for: list[str] = field(default_factory=list)
    critical_for: list[str] = field(default_factory=list)
    abnormal_rate: float = 0.2
    prelim_delay: float = 0.3
    final_delay: float = 0.8
    results: bool = True
    seed: int | None = None


class Lab:
    def __init__(self, target: tuple[str, int] | None, ehr_facility: str):
        self.target = target
        self.ehr_facility = ehr_facility
        self.catalogue = {t["loinc"]: t for t in json.loads(CATALOGUE.read_text())["tests"]}
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.mode = Mode()
            self.rng = random.Random()
            self.answers: dict[str, bytes] = {}  # control id -> ACK given
            self.placer_numbers: list[str] = []  # one per unique accepted control id
            self.duplicate_deliveries = 0
            self.simulated_failures = 0
            self.queue: list[tuple[float, int, str, bytes]] = []  # (due, seq, control id, bytes)
            self.seq = 0
            self.results_acked: dict[str, str] = {}  # result control id -> ACK code
            self.results_pending = 0
            self.finals: dict[str, tuple] = {}  # placer -> (patient, report) of the last final
            self.cancelled: list[str] = []  # placer numbers of orders cancelled (ORC-1 CA)
            self.placer_of: dict[str, str] = {}  # result control id -> placer number
            self.withheld = 0  # results not sent: their order was cancelled first

    # ------------------------------------------------------------------ orders in
    def order_received(self, raw: bytes) -> bytes | None:
        try:
            message = hl7wire.parse(raw)
            hdr = hl7wire.header(message)
            hl7wire.require_segments(message, ("PID", "ORC", "OBR"))
        except hl7wire.Hl7Error as exc:
            return hl7wire.build_bare_ack(exc.ack_code, exc.reason)
        cid = hdr["control_id"]
        with self.lock:
            if cid in self.answers:
                self.duplicate_deliveries += 1
                return self.answers[cid]
            roll = self.rng.random()
            if roll < self.mode.silent_rate:
                self.simulated_failures += 1
                return None
            if roll < self.mode.silent_rate + self.mode.nak_rate:
                self.simulated_failures += 1
                return hl7wire.build_ack(message, hl7wire.REJECT, "busy: send again later")
            patient = hl7wire.patient_of(message)
            obr = message.segment("OBR")
            placer, loinc = hl7wire.get(obr, "2.1"), hl7wire.get(obr, "4.1")
            if hl7wire.get(message.segment("ORC"), "1") == "CA":  # cancel: acknowledged, its results not sent
                ack = hl7wire.build_ack(message, hl7wire.ACCEPT, sending_facility=FACILITY)
                self.cancelled.append(placer)
            elif patient.family in self.mode.error_for:
                ack = hl7wire.build_ack(message, hl7wire.ERROR, "patient date of birth missing")
            else:
                ack = hl7wire.build_ack(message, hl7wire.ACCEPT, sending_facility=FACILITY)
                self.placer_numbers.append(placer)
                if self.mode.results:
                    self._schedule_results(
                        patient, placer, loinc, hdr["sending_facility"], hl7wire.get(obr, "16.1")
                    )
            self.answers[cid] = ack
            return ack

    def _values(self, test: dict, patient, *, critical: bool) -> list[hl7wire.ResultRow]:
        rows = []
        for i, c in enumerate(test.get("components") or [{"loinc": test["loinc"], "name": test["name"]}]):
            if c.get("kind") == "choice":
                rows.append(hl7wire.ResultRow(c["loinc"], c["name"], c.get("normal", "Negative"), "ST"))
                continue
            low, high = c.get("low"), c.get("high")
            if low is None or high is None:
                rows.append(hl7wire.ResultRow(c["loinc"], c["name"], "See report", "ST"))
                continue
            span = high - low
            value = low + span * self.rng.uniform(0.15, 0.85)
            flag = "N"
            if critical and i == 0:
                value, flag = (c.get("critical_high") or high * 3), "HH"
            elif self.rng.random() < self.mode.abnormal_rate:
                value, flag = high + span * self.rng.uniform(0.05, 0.3), "H"
            rows.append(
                hl7wire.ResultRow(
                    c["loinc"],
                    c["name"],
                    _fmt(value, low),
                    "NM",
                    c.get("unit", ""),
                    f"{_fmt(low, low)}-{_fmt(high, low)}",
                    flag,
                )
            )
        return rows

    def _schedule_results(self, patient, placer: str, loinc: str, ehr_facility: str, npi: str) -> None:
        test = self.catalogue.get(loinc)
        if test is None or test["kind"] == "imaging":
            rows = [hl7wire.ResultRow(loinc, "Report", "No acute findings.", "TX")]
            test = {"loinc": loinc, "name": (test or {}).get("name", loinc), "components": []}
        else:
            rows = self._values(test, patient, critical=patient.family in self.mode.critical_for)
        filler = "LS" + secrets.token_hex(5).upper()
        now = time.monotonic()
        observed = datetime.now(UTC)
        if len(rows) > 1:
            prelim = [
                hl7wire.ResultRow(
                    r.loinc, r.name, r.value, r.value_type, r.unit, r.reference_range, r.flag, "P"
                )
                for r in rows[: len(rows) // 2]
            ]
            self._queue(
                now + self.mode.prelim_delay, patient, placer, filler, test, "P", prelim, observed, npi
            )
        self._queue(now + self.mode.final_delay, patient, placer, filler, test, "F", rows, observed, npi)
        self.finals[placer] = (patient, filler, test, rows, observed, npi)

    def _queue(self, due, patient, placer, filler, test, status, rows, observed, npi="") -> str:
        report = hl7wire.ReportData(
            placer_number=placer,
            filler_number=filler,
            loinc=test["loinc"],
            test_name=test["name"],
            status=status,
            observed_at=observed,
            rows=rows,
            provider_npi=npi,
        )
        cid = hl7wire.new_control_id()
        self.placer_of[cid] = placer
        raw = hl7wire.build_oru(
            control_id=cid,
            patient=patient,
            reports=[report],
            sending_app=FACILITY,
            sending_facility=FACILITY,
            receiving_facility=self.ehr_facility,
        )
        self.enqueue(cid, raw, due)
        return cid

    def enqueue(self, cid: str, raw: bytes, due: float | None = None) -> None:
        self.seq += 1
        self.results_pending += 1
        heapq.heappush(self.queue, (due or time.monotonic(), self.seq, cid, raw))
        self.wake.notify()

    # ------------------------------------------------------------------ results out
    def sender(self) -> None:
        while True:
            with self.lock:
                while not self.queue or self.queue[0][0] > time.monotonic():
                    timeout = None if not self.queue else max(0.0, self.queue[0][0] - time.monotonic())
                    self.wake.wait(timeout)
                due, seq, cid, raw = heapq.heappop(self.queue)
                target = self.target
                if self.placer_of.get(cid) in self.cancelled:
                    self.withheld += 1
                    self.results_pending -= 1
                    continue
            code = self._send(target, raw)
            with self.lock:
                if code in ("AA", "AE", "AR-final"):
                    self.results_acked[cid] = code
                    self.results_pending -= 1
                else:  # no answer or "send again": the same bytes, the same control id, a little later
                    heapq.heappush(self.queue, (time.monotonic() + 0.5, seq, cid, raw))

    def _send(self, target, raw: bytes) -> str:
        if target is None:
            return ""
        try:
            code, _, _ = hl7wire.ack_of(hl7wire.mllp_exchange(*target, raw, timeout=10))
        except (OSError, hl7wire.Hl7Error):
            return ""
        return "AR-final" if code == "AR" else code

    # ------------------------------------------------------------------ control
    def stats(self) -> dict:
        with self.lock:
            return {
                "unique_received": len(self.answers),
                "placer_numbers": list(self.placer_numbers),
                "duplicate_deliveries": self.duplicate_deliveries,
                "simulated_failures": self.simulated_failures,
                "results_acked": dict(self.results_acked),
                "results_pending": self.results_pending,
                "cancelled": list(self.cancelled),
                "results_withheld": self.withheld,
            }

    def set_mode(self, payload: dict) -> dict:
        with self.lock:
            for k, v in payload.items():
                if hasattr(self.mode, k):
                    setattr(self.mode, k, v)
            if payload.get("seed") is not None:
                self.rng.seed(payload["seed"])
            return self.mode.__dict__.copy()

    def send_correction(self, payload: dict) -> dict:
        with self.lock:
            patient, filler, test, rows, observed, npi = self.finals[payload["placer_number"]]
            first = rows[0]
            value = str(payload.get("value") or first.value)
            corrected = [
                hl7wire.ResultRow(
                    first.loinc,
                    first.name,
                    value,
                    first.value_type,
                    first.unit,
                    first.reference_range,
                    payload.get("flag", "N"),
                    "C",
                ),
                *[
                    hl7wire.ResultRow(
                        r.loinc, r.name, r.value, r.value_type, r.unit, r.reference_range, r.flag, "C"
                    )
                    for r in rows[1:]
                ],
            ]
            cid = self._queue(
                time.monotonic(),
                patient,
                payload["placer_number"],
                filler,
                test,
                "C",
                corrected,
                observed,
                npi,
            )
        return {"control_id": cid}

    def send_unsolicited(self, payload: dict, *, known: bool = True) -> dict:
        patient = hl7wire.PatientIdent(
            mrn=payload.get("mrn", "X" + secrets.token_hex(4)),
            family=payload.get("family", "Nobody"),
            given=payload.get("given", "Unknown"),
            birth_date=payload.get("birth_date", "19700101"),
            sex=payload.get("sex", "U"),
        )
        test = self.catalogue[payload.get("loinc", "3016-3")]
        with self.lock:
            rows = self._values(test, patient, critical=False)
            cid = self._queue(
                time.monotonic(),
                patient,
                "",
                "LS" + secrets.token_hex(5).upper(),
                test,
                "F",
                rows,
                datetime.now(UTC),
                payload.get("npi", ""),
            )
        return {"control_id": cid}

    def send_raw(self, payload: dict) -> dict:
        raw = payload["hl7"].encode("utf-8") if "hl7" in payload else bytes.fromhex(payload["hex"])
        cid = "RAW" + secrets.token_hex(6)
        with self.lock:
            self.enqueue(cid, raw)
        return {"control_id": cid}


def _fmt(value: float, low: float) -> str:
    places = 0 if isinstance(low, int) and abs(value) >= 10 else (2 if abs(value) < 10 else 1)
    return str(Decimal(str(round(value, places))))


def _handler(lab: Lab, token: str):
    routes = {
        "/control/reset": lambda p: (lab.reset(), {"ok": True})[1],
        "/control/mode": lab.set_mode,
        "/control/send-correction": lab.send_correction,
        "/control/send-unsolicited": lab.send_unsolicited,
        "/control/send-unknown-patient": lambda p: lab.send_unsolicited(p, known=False),
        "/control/send-raw": lab.send_raw,
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            return secrets.compare_digest(given.encode(), f"Bearer {token}".encode())

        def do_GET(self):
            if self.path == "/healthz":
                return self._json(200, {"ok": True})
            if not self._authorized():
                return self._json(401, {"error": "control token required"})
            if self.path == "/control/stats":
                return self._json(200, lab.stats())
            return self._json(404, {"error": "not found"})

        def do_POST(self):
            if not self._authorized():
                return self._json(401, {"error": "control token required"})
            fn = routes.get(self.path)
            if fn is None:
                return self._json(404, {"error": "not found"})
            length = min(int(self.headers.get("Content-Length") or 0), 10_000_000)
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
                return self._json(200, fn(payload))
            except (KeyError, ValueError, TypeError) as exc:
                return self._json(400, {"error": f"{type(exc).__name__}: {exc}"})

    return Handler


async def _serve_mllp(lab: Lab, host: str, port: int) -> None:
    from hl7.mllp import start_hl7_server

    async def client(reader, writer):
        try:
            while True:
                try:
                    raw = await reader.readblock()
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    break
                answer = lab.order_received(bytes(raw))
                if answer is None:  # simulated: no answer at all
                    break
                writer.writeblock(answer)
                await writer.drain()
        finally:
            writer.close()

    server = await start_hl7_server(client, host, port, limit=4_000_000)
    async with server:
        await server.serve_forever()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="lab_sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mllp-port", type=int, default=int(os.environ.get("LAB_SIM_MLLP_PORT", "2576")))
    ap.add_argument("--http-port", type=int, default=int(os.environ.get("LAB_SIM_HTTP_PORT", "8766")))
    ap.add_argument(
        "--target", default=os.environ.get("LAB_SIM_TARGET", ""), help="the EHR listener, host:port"
    )
    ap.add_argument("--ehr-facility", default=os.environ.get("HL7_FACILITY", "OPENEHR-CLINIC"))
    args = ap.parse_args(argv)
    token = os.environ.get("LAB_SIM_CONTROL_TOKEN") or secrets.token_urlsafe(32)
    if not os.environ.get("LAB_SIM_CONTROL_TOKEN"):
        print(f"lab_sim control token: {token}", flush=True)
    target = None
    if args.target:
        host, _, port = args.target.rpartition(":")
        target = (host or "127.0.0.1", int(port))
    lab = Lab(target, args.ehr_facility)
    threading.Thread(target=lab.sender, daemon=True).start()
    http = ThreadingHTTPServer((args.host, args.http_port), _handler(lab, token))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve_mllp(lab, args.host, args.mllp_port))
