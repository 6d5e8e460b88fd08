"""HL7 v2.5.1 wire format for laboratory orders and results: ORM^O01 out, ORU^R01 in, ACK both ways, MLLP framing.

A plain module (no Django, no models) that the product and the lab simulator (``lab_sim``) share, as
``prescriptions/ncpdp.py`` is for the pharmacy simulator. Messages are assembled and read with the ``hl7`` library
(its containers, escaping and parser); this module only says which field carries what.

Reading is strict about what matters and says why in words: a message that cannot be decoded, has no MSH, uses
separators other than the ones it declares, misses a required segment or is too large raises ``Hl7Error`` with a
reason and the ACK code to answer (AE for content errors, AR when the message is refused as a whole).
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

import hl7
from hl7.client import CR, EB, SB

VERSION = "2.5.1"
MAX_MESSAGE_BYTES = 1_000_000  # a result message larger than this is kept but refused (a 2 MB OBX)
ENCODING_CHARACTERS = "^~\\&"

# HL7 table 0008 acknowledgment codes
ACCEPT = "AA"
ERROR = "AE"
REJECT = "AR"

# OBR-25 / OBX-11 result status (HL7 table 0085 / 0123)
STATUS_PRELIMINARY = "P"
STATUS_FINAL = "F"
STATUS_CORRECTED = "C"
STATUS_CANCELLED = "X"

# OBX-8 abnormal flags (HL7 table 0078) we act on
CRITICAL_FLAGS = frozenset({"HH", "LL", "AA"})
ABNORMAL_FLAGS = frozenset({"H", "L", "A", "HH", "LL", "AA", "POS", ">", "<"})

PRIORITY_CODES = {"routine": "R", "urgent": "A", "stat": "S"}  # OBR-27.6 / ORC-7.6 (A: as soon as possible)


class Hl7Error(Exception):
    def __init__(self, reason: str, ack_code: str = ERROR):
        super().__init__(reason)
        self.reason = reason
        self.ack_code = ack_code


def now_ts(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")


def new_control_id() -> str:
    """MSH-10: unique per message (20 characters at most, the field's length in 2.5.1)."""
    return datetime.now(UTC).strftime("%y%m%d%H%M%S") + secrets.token_hex(4).upper()


# ------------------------------------------------------------------ building
class Builder:
    """One message, built segment by segment with the hl7 library's containers and escaping."""

    def __init__(self) -> None:
        self.message = hl7.Message("\r", [])

    def segment(self, name: str, fields: dict[int, object]) -> None:
        """fields: {field number: value}; a value is a str, or a list of components (a component may itself be
        a list of subcomponents), or a tuple of repetitions."""
        msg = self.message
        seg = msg.create_segment([msg.create_field([name])])
        if name == "MSH":
            seg.append(msg.create_field(["|"]))
            seg.append(msg.create_field([ENCODING_CHARACTERS]))
        for num in sorted(fields):
            value = fields[num]
            if value in (None, "", []):
                continue
            reps = value if isinstance(value, tuple) else (value,)
            for r, rep in enumerate(reps, start=1):
                comps = rep if isinstance(rep, list) else [rep]
                for c, comp in enumerate(comps, start=1):
                    if comp in (None, ""):
                        continue
                    if isinstance(comp, list):
                        for s, sub in enumerate(comp, start=1):
                            if sub not in (None, ""):
                                seg.assign_field(msg.escape(str(sub)), num, r, c, s)
                    else:
                        seg.assign_field(msg.escape(str(comp)), num, r, c)
        msg.append(seg)

    def encode(self) -> bytes:
        return str(self.message).encode("utf-8")


def msh(
    b: Builder,
    *,
    sending_app: str,
    sending_facility: str,
    receiving_app: str,
    receiving_facility: str,
    message_type: list[str],
    control_id: str,
    when: datetime | None = None,
) -> None:
    b.segment(
        "MSH",
        {
            3: sending_app,
            4: sending_facility,
            5: receiving_app,
            6: receiving_facility,
            7: now_ts(when),
            9: message_type,
            10: control_id,
            11: "P",
            12: VERSION,
            15: "AL",  # accept acknowledgement: always
            16: "NE",
            18: "UNICODE UTF-8",
        },
    )


@dataclass
class PatientIdent:
    mrn: str
    family: str
    given: str
    birth_date: str  # YYYYMMDD
    sex: str  # HL7 table 0001: F, M, U, O
    assigning_authority: str = ""


def pid(b: Builder, p: PatientIdent) -> None:
    b.segment(
        "PID",
        {
            1: "1",
            3: [p.mrn, "", "", p.assigning_authority, "MR"],
            5: [p.family, p.given],
            7: p.birth_date,
            8: p.sex,
        },
    )


@dataclass
class OrderData:
    control_id: str
    placer_number: str
    patient: PatientIdent
    loinc: str
    test_name: str
    priority: str  # routine, urgent, stat
    ordered_at: datetime
    provider_npi: str
    provider_family: str
    provider_given: str
    diagnoses: list[tuple[str, str]] = field(default_factory=list)  # (ICD-10-CM code, description)
    answers: list[tuple[str, str, str]] = field(default_factory=list)  # (question code, question, answer)
    specimen: str = ""
    sending_facility: str = ""
    receiving_app: str = ""
    receiving_facility: str = ""
    sending_app: str = "OPENEHR"
    order_control: str = "NW"  # NW new order, CA cancel


def build_orm(o: OrderData) -> bytes:
    """ORM^O01: MSH, PID, ORC, OBR, DG1 per diagnosis, OBX per ask-at-order-entry answer."""
    b = Builder()
    msh(
        b,
        sending_app=o.sending_app,
        sending_facility=o.sending_facility,
        receiving_app=o.receiving_app,
        receiving_facility=o.receiving_facility,
        message_type=["ORM", "O01", "ORM_O01"],
        control_id=o.control_id,
    )
    pid(b, o.patient)
    provider = [o.provider_npi, o.provider_family, o.provider_given, "", "", "", "", "", "NPI"]
    priority = PRIORITY_CODES.get(o.priority, "R")
    b.segment(
        "ORC",
        {
            1: o.order_control,
            2: [o.placer_number, o.sending_app],
            7: ["", "", "", "", "", priority],
            9: now_ts(o.ordered_at),
            12: provider,
        },
    )
    b.segment(
        "OBR",
        {
            1: "1",
            2: [o.placer_number, o.sending_app],
            4: [o.loinc, o.test_name, "LN"],
            5: priority,
            6: now_ts(o.ordered_at),
            15: o.specimen,
            16: provider,
            27: ["", "", "", "", "", priority],
        },
    )
    for i, (code, desc) in enumerate(o.diagnoses, start=1):
        b.segment("DG1", {1: str(i), 3: [code, desc, "I10"], 6: "W"})
    for i, (code, question, answer) in enumerate(o.answers, start=1):
        b.segment("OBX", {1: str(i), 2: "ST", 3: [code, question, "L"], 5: answer, 11: "O"})
    return b.encode()


@dataclass
class ResultRow:
    """One OBX: a numeric (NM) or text (ST / CWE) value with its unit, range, flag and status."""

    loinc: str
    name: str
    value: str
    value_type: str = "NM"
    unit: str = ""
    reference_range: str = ""
    flag: str = ""
    status: str = STATUS_FINAL


@dataclass
class ReportData:
    """One OBR group of an ORU^R01."""

    placer_number: str
    filler_number: str
    loinc: str
    test_name: str
    status: str
    observed_at: datetime
    rows: list[ResultRow]
    provider_npi: str = ""
    provider_family: str = ""
    provider_given: str = ""


def build_oru(
    *,
    control_id: str,
    patient: PatientIdent,
    reports: list[ReportData],
    sending_app: str = "LABSIM",
    sending_facility: str = "LABSIM",
    receiving_app: str = "OPENEHR",
    receiving_facility: str = "",
) -> bytes:
    b = Builder()
    msh(
        b,
        sending_app=sending_app,
        sending_facility=sending_facility,
        receiving_app=receiving_app,
        receiving_facility=receiving_facility,
        message_type=["ORU", "R01", "ORU_R01"],
        control_id=control_id,
    )
    pid(b, patient)
    for n, r in enumerate(reports, start=1):
        provider = [r.provider_npi, r.provider_family, r.provider_given, "", "", "", "", "", "NPI"]
        b.segment("ORC", {1: "RE", 2: [r.placer_number, receiving_app], 3: [r.filler_number, sending_app]})
        b.segment(
            "OBR",
            {
                1: str(n),
                2: [r.placer_number, receiving_app],
                3: [r.filler_number, sending_app],
                4: [r.loinc, r.test_name, "LN"],
                7: now_ts(r.observed_at),
                16: provider,
                22: now_ts(),
                25: r.status,
            },
        )
        for i, row in enumerate(r.rows, start=1):
            b.segment(
                "OBX",
                {
                    1: str(i),
                    2: row.value_type,
                    3: [row.loinc, row.name, "LN"],
                    5: row.value,
                    6: row.unit,
                    7: row.reference_range,
                    8: row.flag,
                    11: row.status,
                    14: now_ts(r.observed_at),
                },
            )
    return b.encode()


def build_ack(
    raw_or_message,
    code: str,
    text: str = "",
    *,
    sending_app: str = "",
    sending_facility: str = "",
) -> bytes:
    """ACK for a parsed message (MSA-1 code, MSA-2 its control id, MSA-3 the reason in words)."""
    message = raw_or_message
    ack = message.create_ack(
        code,
        message_id=new_control_id(),
        application=sending_app or None,
        facility=sending_facility or None,
    )
    msa = ack.segment("MSA")
    if text:
        msa.assign_field(ack.escape(text[:80]), 3)
    if code != ACCEPT and text:
        err = ack.create_segment([ack.create_field(["ERR"])])
        err.assign_field("E" if code == ERROR else "E", 4)
        err.assign_field(ack.escape(text[:250]), 8)
        ack.append(err)
    return str(ack).encode("utf-8")


def build_bare_ack(code: str, text: str, *, control_id: str = "", sending_app: str = "OPENEHR") -> bytes:
    """An ACK when the message could not be parsed at all (no MSH to answer from)."""
    b = Builder()
    msh(
        b,
        sending_app=sending_app,
        sending_facility="",
        receiving_app="",
        receiving_facility="",
        message_type=["ACK", "", "ACK"],
        control_id=new_control_id(),
    )
    b.segment("MSA", {1: code, 2: control_id, 3: text[:80]})
    b.segment("ERR", {4: "E", 8: text[:250]})
    return b.encode()


# ------------------------------------------------------------------ reading
def decode(raw: bytes) -> str:
    """The message's text: UTF-8 (MSH-18 "UNICODE UTF-8"), ISO 8859-1 when MSH-18 says so, ASCII otherwise.
    Bytes that are not valid in the declared encoding are refused, never guessed."""
    head = raw[:600]
    declared = ""
    if head.startswith(b"MSH") and len(head) > 4:
        sep = head[3:4]
        parts = head.split(b"\r", 1)[0].split(b"\n", 1)[0].split(sep)
        declared = parts[17].decode("ascii", "replace").strip().upper() if len(parts) > 17 else ""
    encoding = "iso-8859-1" if "8859/1" in declared or "8859-1" in declared else "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Hl7Error(
            f"the message is not valid {encoding.upper()} (MSH-18 says {declared or 'nothing'}): "
            f"byte {exc.start} cannot be read",
            ERROR,
        ) from None


def parse(raw: bytes):
    """The hl7.Message of raw bytes, or Hl7Error saying why not."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Hl7Error(
            f"message too large ({len(raw) / 1_000_000:.1f} MB; the limit is {MAX_MESSAGE_BYTES // 1_000_000} MB)",
            REJECT,
        )
    text = decode(raw)
    if not text.startswith("MSH"):
        raise Hl7Error("not an HL7 v2 message: it does not start with an MSH segment", REJECT)
    if len(text) < 8 or text[3] != "|" or text[4:8] != ENCODING_CHARACTERS:
        raise Hl7Error(f"unexpected separators {text[3:8]!r}: HL7 v2.5.1 messages use | and ^~\\&", REJECT)
    # Segments end with CR; a sender using LF or CRLF is read the same (the raw message is kept as received).
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    try:
        return hl7.parse(text)
    except Exception as exc:  # the library raises assorted errors on garbage
        raise Hl7Error(f"unreadable HL7: {type(exc).__name__}", REJECT) from None


def get(segment, path: str) -> str:
    """A field, component or subcomponent as unescaped text ('' when absent): get(seg, '3.1') on a segment."""
    parts = [int(x) for x in path.split(".")]
    field_num, component, sub = parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1
    try:
        return str(segment.extract_field(field_num=field_num, component_num=component, subcomponent_num=sub))
    except (IndexError, KeyError, TypeError):
        return ""


def header(message) -> dict[str, str]:
    m = message.segment("MSH")
    return {
        "sending_app": get(m, "3.1"),
        "sending_facility": get(m, "4.1"),
        "receiving_app": get(m, "5.1"),
        "receiving_facility": get(m, "6.1"),
        "message_type": f"{get(m, '9.1')}^{get(m, '9.2')}",
        "control_id": get(m, "10"),
        "version": get(m, "12"),
    }


def segment_names(message) -> list[str]:
    return [str(s[0]) for s in message]


def require_segments(message, names: tuple[str, ...]) -> None:
    present = set(segment_names(message))
    missing = [n for n in names if n not in present]
    if missing:
        raise Hl7Error(f"missing {', '.join(missing)} segment{'s' if len(missing) > 1 else ''}", ERROR)


def patient_of(message) -> PatientIdent:
    p = message.segment("PID")
    return PatientIdent(
        mrn=get(p, "3.1"),
        family=get(p, "5.1"),
        given=get(p, "5.2"),
        birth_date=get(p, "7")[:8],
        sex=get(p, "8"),
        assigning_authority=get(p, "3.4"),
    )


def reports_of(message) -> list[ReportData]:
    """The OBR groups of an ORU^R01, each with its OBX rows (an OBX before any OBR is refused)."""
    reports: list[ReportData] = []
    for seg in message:
        name = str(seg[0])
        if name == "OBR":
            reports.append(
                ReportData(
                    placer_number=get(seg, "2.1"),
                    filler_number=get(seg, "3.1"),
                    loinc=get(seg, "4.1"),
                    test_name=get(seg, "4.2"),
                    status=get(seg, "25"),
                    observed_at=parse_ts(get(seg, "7")),
                    rows=[],
                    provider_npi=get(seg, "16.1"),
                    provider_family=get(seg, "16.2"),
                    provider_given=get(seg, "16.3"),
                )
            )
        elif name == "OBX":
            if not reports:
                raise Hl7Error("an OBX comes before any OBR", ERROR)
            reports[-1].rows.append(
                ResultRow(
                    loinc=get(seg, "3.1"),
                    name=get(seg, "3.2"),
                    value=get(seg, "5"),
                    value_type=get(seg, "2"),
                    unit=get(seg, "6.1"),
                    reference_range=get(seg, "7"),
                    flag=get(seg, "8"),
                    status=get(seg, "11"),
                )
            )
    return reports


def ack_of(raw: bytes) -> tuple[str, str, str]:
    """(MSA-1 code, MSA-2 control id acknowledged, MSA-3 text) of an ACK; Hl7Error when it is not one."""
    message = parse(raw)
    require_segments(message, ("MSA",))
    msa = message.segment("MSA")
    code = get(msa, "1")
    if code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise Hl7Error(f"unknown acknowledgement code {code!r}", ERROR)
    return code, get(msa, "2"), get(msa, "3")


def parse_ts(value: str) -> datetime:
    """HL7 TS (YYYYMMDD[HHMM[SS]]) as UTC; Hl7Error when it is not a date."""
    digits = value[:14]
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        try:
            return datetime.strptime(digits, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise Hl7Error(f"unreadable date/time {value!r}", ERROR)


# ------------------------------------------------------------------ MLLP
def frame(payload: bytes) -> bytes:
    return SB + payload + EB + CR


def mllp_exchange(host: str, port: int, payload: bytes, *, timeout: float = 10.0) -> bytes:
    """Send one framed message and read one framed answer (OSError / TimeoutError on a lost connection)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(frame(payload))
        buf = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the peer closed the connection without an answer")
            buf += chunk
            end = buf.find(EB + CR)
            if end != -1:
                start = buf.find(SB)
                return buf[start + 1 : end]
            if len(buf) > MAX_MESSAGE_BYTES:
                raise ConnectionError("answer too large")
