"""Figure: results ingest, ORU^R01 messages filed per second end to end.

The harness signs nothing: it writes orders for patients on the bench clinician's care team directly (as if sent
and accepted by the lab: placer numbers of its own), builds one ORU^R01 per order with `orders.hl7wire` (the
library the simulator uses: a basic metabolic panel, four OBX values, one of them abnormal), and sends them over
real MLLP sockets to a real `manage.py hl7_listener` on this database, several connections at once as a lab's
interface engine does. Each message is kept byte for byte, parsed, matched to its order by placer number, filed
(a ResultReport, its Observations, the order's status, the access event) and ACKed before the next one on that
connection is sent. The rate is messages / seconds from the first send to the last ACK; every ACK must be AA
and every message must have been filed exactly once, or the round counts as errors.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from .erx import ROOT, _database_url, _free_port, _stop
from .measure import spread

START, END = b"\x0b", b"\x1c\r"
FACILITY = "BENCHLAB"
ROWS = (
    ("2345-7", "Glucose", "112", "mg/dL", "70-99", "H"),
    ("2823-3", "Potassium", "4.2", "mmol/L", "3.5-5.1", "N"),
    ("2951-2", "Sodium", "139", "mmol/L", "135-145", "N"),
    ("2160-0", "Creatinine", "0.9", "mg/dL", "0.6-1.3", "N"),
)


class listener:
    """`manage.py hl7_listener` on a free port against this database (a process of its own, like production)."""

    def __init__(self):
        import os

        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": _database_url()}
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "hl7_listener", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def __enter__(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    _stop(self.proc)
                    raise RuntimeError("the HL7 listener did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc):
        _stop(self.proc)


def _orders(b, n: int) -> list[tuple]:
    """n orders (placer number, patient ident) for patients on the bench clinician's care team."""
    from orders import hl7wire
    from orders.catalog import catalog_load, lab_ensure
    from orders.models import LabTest, Order, OrderStatus

    if not LabTest.objects.filter(loinc="51990-0").exists():
        catalog_load()
    test = LabTest.objects.get(loinc="51990-0")
    lab = lab_ensure(name="Bench Reference Lab", facility=FACILITY, application=FACILITY)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.id, p.mrn, p.family_name, p.given_name, p.birth_date, p.sex_at_birth FROM patients_patient p "
            "JOIN patients_careteammember c ON c.patient_id = p.id AND c.user_id = %s "
            "WHERE p.merged_into_id IS NULL ORDER BY md5(p.id::text || %s) LIMIT %s",
            [b.clinician.pk, str(b.rng.random()), n],
        )
        pats = cur.fetchall()
    if not pats:
        return []
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        pid, mrn, family, given, born, sex = pats[i % len(pats)]
        placer = "BN" + secrets.token_hex(5).upper()
        rows.append(
            (
                Order(
                    patient_id=pid,
                    test=test,
                    ordering_clinician_id=b.clinician.pk,
                    lab=lab,
                    diagnoses=[{"code": "E11.9", "description": "Type 2 diabetes mellitus"}],
                    placer_number=placer,
                    status=OrderStatus.SENT,
                    signed_at=now,
                ),
                hl7wire.PatientIdent(mrn, family, given, born.strftime("%Y%m%d"), sex or "U"),
            )
        )
    Order.objects.bulk_create([o for o, _ in rows])
    return [(o.placer_number, ident) for o, ident in rows]


def _message(placer: str, ident) -> tuple[str, bytes]:
    from orders import hl7wire

    control_id = hl7wire.new_control_id()
    rows = [hl7wire.ResultRow(c, name, v, "NM", unit, rng, flag, "F") for c, name, v, unit, rng, flag in ROWS]
    report = hl7wire.ReportData(
        placer, "F" + placer, "51990-0", "Basic metabolic panel", "F", datetime.now(UTC), rows
    )
    raw = hl7wire.build_oru(
        control_id=control_id,
        patient=ident,
        reports=[report],
        sending_app=FACILITY,
        sending_facility=FACILITY,
        receiving_facility=settings.HL7_FACILITY,
    )
    return control_id, raw


def _send_all(port: int, messages: list[bytes], acks: list, at: int) -> None:
    """One MLLP connection: each message framed, sent, its ACK read before the next."""
    from orders import hl7wire

    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        for i, raw in enumerate(messages):
            s.sendall(START + raw + END)
            buf = b""
            while not buf.endswith(END):
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("the listener closed the connection")
                buf += chunk
            acks[at + i] = hl7wire.ack_of(buf.strip(START + END))[0]


def _round(port: int, msgs: list[tuple[str, bytes]], connections: int) -> tuple[float, list]:
    acks: list = [None] * len(msgs)
    share = -(-len(msgs) // connections)
    threads = [
        threading.Thread(target=_send_all, args=(port, [m for _, m in msgs[i : i + share]], acks, i))
        for i in range(0, len(msgs), share)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, acks


def _filed(control_ids: list[str]) -> tuple[int, int]:
    """(messages filed, reports filed) among these control ids."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(DISTINCT m.id), count(r.id) FROM orders_inboundmessage m "
            "LEFT JOIN orders_resultreport r ON r.message_id = m.id "
            "WHERE m.sending_facility = %s AND m.control_id = ANY(%s) AND m.status = 'filed'",
            [FACILITY, control_ids],
        )
        return cur.fetchone()


def fig_hl7_ingest(b, *, messages: int = 300, connections: int = 4) -> None:
    from .figures import TARGETS

    key, label = "hl7_ingest_messages_per_s", "results ingest (ORU^R01 over MLLP, filed)"
    rates, errors, lost, seconds = [], 0, 0, []
    with listener() as lst:
        warm = _orders(b, min(20, messages))
        if not warm:
            b.row(key, label, None, "msg/s", skipped="no patients on the bench clinician's care team")
            return
        _round(lst.port, [_message(p, i) for p, i in warm], connections)  # warm-up: connections, plans
        for _ in range(b.rounds):
            msgs = [_message(p, i) for p, i in _orders(b, messages)]
            took, acks = _round(lst.port, msgs, connections)
            errors += sum(1 for a in acks if a != "AA")
            filed, reports = _filed([c for c, _ in msgs])
            lost += len(msgs) - min(filed, reports)
            rates.append(len(msgs) / took)
            seconds.append(round(took, 2))
    b.row(
        key,
        label,
        spread(rates, 1),
        "msg/s",
        target=TARGETS["hl7_ingest"],
        op=">=",
        met=None if not (errors or lost) else False,
        detail={
            "messages_per_round": messages,
            "connections": connections,
            "obx_per_message": len(ROWS),
            "seconds_per_round": seconds,
            "errors": errors,
            "not_filed_once": lost,
        },
    )
