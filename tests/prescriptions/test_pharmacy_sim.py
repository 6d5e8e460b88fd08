"""The pharmacy simulator over real HTTP: de-duplication, fault injection, answers, pharmacy-initiated sends.

Each test gets its own simulator on a free port in a background thread. No database.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from lxml import etree

from pharmacy_sim.server import make_server
from prescriptions import ncpdp, ncpdp_build, ncpdp_parse
from prescriptions.signing import verify_signature

ADDRESS = ncpdp.AddressData(line1="12 Elm St", city="Springfield", state="IL", postal_code="62701")
SECRET = "pharmacy-secret"
TOKEN = "control-token-for-these-tests"
CONTROL = {"Authorization": f"Bearer {TOKEN}"}  # the control API needs the token given at start-up
SERVERS: dict = {}  # base URL -> the simulator serving it (to set its configured target)


def new_rx_xml(*, message_id: str = "", order: str = "ORD-1", last_name: str = "Quinn", quantity: str = "30"):
    data = ncpdp.NewRxData(
        header=ncpdp.MessageHeader(
            to_id="1234567",
            from_id="6301875277001",
            message_id=message_id or ncpdp.new_message_id(),
            prescriber_order_number=order,
        ),
        patient=ncpdp.PatientData(last_name, "Harper", "F", date(1984, 3, 9), ADDRESS),
        pharmacy=ncpdp.PharmacyData("1234567", "1234567893", "Elm Street Pharmacy", "2175550100", ADDRESS),
        prescriber=ncpdp.PrescriberData("1245319599", "Able", "Alice", ADDRESS, "2175550199"),
        medication=ncpdp.MedicationData(
            description="Lisinopril 10 MG Oral Tablet",
            quantity=Decimal(quantity),
            quantity_unit="C48542",
            written_date=date(2025, 5, 1),
            sig_text="Take 1 tablet by mouth once daily",
            refills=3,
            rxnorm_code="314076",
        ),
    )
    return data, ncpdp_build.build_new_rx(data)


def serve(server) -> str:
    # A short poll interval keeps shutdown() (and so each test's teardown) quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


@pytest.fixture
def sim():
    server = make_server("127.0.0.1", 0, control_token=TOKEN)
    base = serve(server)
    SERVERS[base] = server
    yield base
    SERVERS.pop(base)
    server.shutdown()
    server.server_close()


def post_xml(base: str, xml: bytes) -> requests.Response:
    return requests.post(f"{base}/ncpdp", data=xml, headers={"Content-Type": "application/xml"}, timeout=10)


def stats(base: str) -> dict:
    return requests.get(f"{base}/control/stats", headers=CONTROL, timeout=10).json()


def set_mode(base: str, **mode) -> requests.Response:
    return requests.post(f"{base}/control/mode", json=mode, headers=CONTROL, timeout=10)


def test_healthz(sim):
    assert requests.get(f"{sim}/healthz", timeout=10).json() == {"ok": True}


def test_new_rx_is_accepted_with_status(sim):
    _, xml = new_rx_xml(message_id="newrx-1", order="ORD-7")
    response = post_xml(sim, xml)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    answer = ncpdp_parse.parse_message(response.content)
    assert answer.message_type == "Status"
    assert answer.fields["code"] == "010"
    assert answer.relates_to_message_id == "newrx-1"
    assert (answer.from_id, answer.from_qualifier) == ("1234567", "P")
    assert answer.prescriber_order_number == "ORD-7"

    counts = stats(sim)
    assert counts["unique_received"] == 1
    assert counts["by_type"] == {"NewRx": 1}
    assert counts["prescriber_order_numbers"] == ["ORD-7"]
    [summary] = counts["messages"]
    assert summary["message_type"] == "NewRx"
    assert summary["message_id"] == "newrx-1"
    assert summary["prescriber_order_number"] == "ORD-7"
    assert summary["answer"] == "Status 010"
    assert summary["received_at"]


def test_repeated_message_id_is_answered_the_same_and_counted_once(sim):
    _, xml = new_rx_xml(message_id="newrx-dup")
    first = post_xml(sim, xml)
    second = post_xml(sim, xml)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    counts = stats(sim)
    assert counts["unique_received"] == 1
    assert counts["duplicate_deliveries"] == 1
    assert counts["duplicates_seen"] == 1
    assert counts["prescriber_order_numbers"] == ["ORD-1"]
    assert len(counts["messages"]) == 1


def test_concurrent_duplicates_are_recorded_once(sim):
    _, xml = new_rx_xml(message_id="newrx-race")
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: post_xml(sim, xml).content, range(20)))

    assert len(set(answers)) == 1
    counts = stats(sim)
    assert counts["unique_received"] == 1
    assert counts["duplicate_deliveries"] == 19


def test_same_order_under_a_new_message_id_counts_twice(sim):
    # What an exactly-once check looks for: one order, delivered under two MessageIDs.
    post_xml(sim, new_rx_xml(order="ORD-5")[1])
    post_xml(sim, new_rx_xml(order="ORD-5")[1])
    counts = stats(sim)
    assert counts["unique_received"] == 2
    assert counts["duplicate_deliveries"] == 0
    assert counts["prescriber_order_numbers"] == ["ORD-5", "ORD-5"]


def test_fail_rate_answers_503_and_records_nothing(sim):
    assert set_mode(sim, fail_rate=1.0).status_code == 200
    _, xml = new_rx_xml(message_id="newrx-503")
    response = post_xml(sim, xml)

    assert response.status_code == 503
    counts = stats(sim)
    assert counts["unique_received"] == 0
    assert counts["simulated_failures"]["http_503"] == 1

    # The sender's retry with the same MessageID is the first real delivery.
    set_mode(sim, fail_rate=0.0)
    assert ncpdp_parse.parse_message(post_xml(sim, xml).content).message_type == "Status"
    counts = stats(sim)
    assert (counts["unique_received"], counts["duplicate_deliveries"]) == (1, 0)


def test_error_rate_answers_a_transient_error_and_records_nothing(sim):
    set_mode(sim, error_rate=1.0)
    _, xml = new_rx_xml(message_id="newrx-602")
    answer = ncpdp_parse.parse_message(post_xml(sim, xml).content)

    assert answer.message_type == "Error"
    assert answer.fields["code"] in ncpdp.TRANSIENT_ERROR_CODES
    assert answer.fields["transient"] is True
    assert answer.relates_to_message_id == "newrx-602"
    assert stats(sim)["unique_received"] == 0


@pytest.mark.parametrize(
    ("rule", "order", "last_name"), [("ORD-BAD", "ORD-BAD", "Quinn"), ("quinn", "X", "Quinn")]
)
def test_permanent_error_for_order_number_or_last_name(sim, rule, order, last_name):
    set_mode(sim, permanent_error_for=[rule])
    _, xml = new_rx_xml(order=order, last_name=last_name)
    first = post_xml(sim, xml)
    answer = ncpdp_parse.parse_message(first.content)

    assert answer.message_type == "Error"
    assert answer.fields["code"] in ncpdp.PERMANENT_ERROR_CODES
    assert answer.fields["transient"] is False
    # A permanent answer is final: the same MessageID gets it again.
    assert post_xml(sim, xml).content == first.content
    counts = stats(sim)
    assert (counts["unique_received"], counts["rejected"], counts["accepted"]) == (1, 1, 0)
    assert counts["duplicate_deliveries"] == 1
    assert counts["prescriber_order_numbers"] == []


def test_invalid_new_rx_gets_a_permanent_error(sim):
    _, xml = new_rx_xml()
    root = etree.fromstring(xml)
    root.find("Body/NewRx/MedicationPrescribed/Quantity/Value").text = "0"
    answer = ncpdp_parse.parse_message(post_xml(sim, etree.tostring(root)).content)

    assert answer.message_type == "Error"
    assert answer.fields["code"] == "900"
    assert "quantity must be positive" in answer.fields["description"]
    assert stats(sim)["rejected"] == 1


def test_malformed_xml_gets_a_400_error(sim):
    response = post_xml(sim, b"<Message><Header>")
    assert response.status_code == 400
    answer = ncpdp_parse.parse_message(response.content)
    assert answer.fields["code"] == "900"
    assert answer.fields["description_codes"] == ["500"]
    assert stats(sim)["unique_received"] == 0


def test_message_a_pharmacy_does_not_receive_is_refused(sim):
    status = ncpdp_build.build_status(
        header=ncpdp.MessageHeader(
            to_id="1234567", from_id="6301875277001", message_id="s-1", relates_to_message_id="x"
        )
    )
    answer = ncpdp_parse.parse_message(post_xml(sim, status).content)
    assert answer.fields["code"] == "900"
    assert answer.fields["description_codes"] == ["4040"]


def test_cancel_rx_gets_status_or_verify_when_a_receipt_is_asked(sim):
    data, _ = new_rx_xml(message_id="newrx-c")
    cancel = ncpdp_build.build_cancel_rx(data, message_id="cancel-1", relates_to_message_id="newrx-c")
    answer = ncpdp_parse.parse_message(post_xml(sim, cancel).content)
    assert (answer.message_type, answer.relates_to_message_id) == ("Status", "cancel-1")

    root = etree.fromstring(
        ncpdp_build.build_cancel_rx(data, message_id="cancel-2", relates_to_message_id="newrx-c")
    )
    receipt = etree.Element("ReturnReceipt")
    receipt.text = "001"
    root.find("Body/CancelRx").insert(0, receipt)  # §2: ReturnReceipt comes before Patient
    answer = ncpdp_parse.parse_message(post_xml(sim, etree.tostring(root)).content)
    assert (answer.message_type, answer.fields["code"]) == ("Verify", "010")
    assert stats(sim)["by_type"] == {"CancelRx": 2}


def test_mode_is_validated(sim):
    assert set_mode(sim, fail_rate=2).status_code == 400
    assert set_mode(sim, delay_ms=-1).status_code == 400
    assert set_mode(sim, permanent_error_for="ORD-1").status_code == 400
    assert set_mode(sim, surprise=True).status_code == 400
    assert set_mode(sim, status_code="999").status_code == 400
    assert set_mode(sim, delay_count=0).status_code == 400
    mode = set_mode(sim, delay_ms=5, seed=3).json()
    assert mode == {
        "fail_rate": 0.0,
        "error_rate": 0.0,
        "permanent_error_for": [],
        "delay_ms": 5,
        "delay_count": None,
        "status_code": "010",
        "seed": 3,
    }


def test_delay_count_slows_only_the_next_requests(sim):
    set_mode(sim, delay_ms=400, delay_count=1)
    import time

    started = time.monotonic()
    post_xml(sim, new_rx_xml()[1])
    slow = time.monotonic() - started
    started = time.monotonic()
    post_xml(sim, new_rx_xml()[1])
    assert slow >= 0.4 > time.monotonic() - started
    assert stats(sim)["mode"]["delay_ms"] == 0


def test_status_000_mode_answers_accepted_by_network(sim):
    set_mode(sim, status_code="000")
    answer = ncpdp_parse.parse_message(post_xml(sim, new_rx_xml()[1]).content)
    assert (answer.message_type, answer.fields["code"]) == ("Status", "000")


def test_seed_makes_failures_reproducible(sim):
    def outcomes() -> list[int]:
        set_mode(sim, fail_rate=0.5, seed=42)
        return [post_xml(sim, new_rx_xml()[1]).status_code for _ in range(12)]

    first = outcomes()
    assert first == outcomes()
    assert {200, 503} == set(first)


def test_reset_clears_counters_and_mode(sim):
    set_mode(sim, fail_rate=1.0)
    post_xml(sim, new_rx_xml()[1])
    assert requests.post(f"{sim}/control/reset", headers=CONTROL, timeout=10).json() == {"ok": True}

    counts = stats(sim)
    assert counts["unique_received"] == counts["duplicate_deliveries"] == 0
    assert counts["simulated_failures"] == {"http_503": 0, "transient_errors": 0}
    assert counts["mode"]["fail_rate"] == 0.0


def test_unknown_paths_and_missing_length(sim):
    assert requests.get(f"{sim}/nope", timeout=10).status_code == 404
    assert requests.post(f"{sim}/control/nope", json={}, headers=CONTROL, timeout=10).status_code == 404
    assert (
        requests.post(f"{sim}/control/mode", data=b"not json", headers=CONTROL, timeout=10).status_code == 400
    )


# ------------------------------------------------------------------ pharmacy-initiated messages


class FakeEhr(BaseHTTPRequestHandler):
    """The EHR's inbound endpoint: checks the signature, parses, answers Status (reference §6)."""

    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        verify_signature(SECRET, dict(self.headers), body)
        parsed = ncpdp_parse.parse_message(body)
        FakeEhr.received.append((dict(self.headers), parsed))
        answer = ncpdp_build.build_status("010", header=ncpdp.reply_header(parsed))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def ehr():
    FakeEhr.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEhr)
    base = serve(server)
    yield base
    server.shutdown()
    server.server_close()


def send(sim: str, kind: str, ehr: str, **fields) -> requests.Response:
    SERVERS[sim].target_url = f"{ehr}/erx/inbound"  # configured at start-up in real use
    payload = {
        "target_url": f"{ehr}/erx/inbound",
        "secret": SECRET,
        "pharmacy_ncpdp_id": "1234567",
        "prescriber_order_number": "ORD-9",
        "relates_to_message_id": "newrx-9",
        **fields,
    }
    return requests.post(f"{sim}/control/send-{kind}", json=payload, headers=CONTROL, timeout=10)


def test_send_renewal_posts_a_signed_request(sim, ehr):
    response = send(
        sim,
        "renewal",
        ehr,
        drug_description="Lisinopril 10 MG Oral Tablet",
        quantity="90",
        refills=3,
        note="Renew?",
    )

    assert response.status_code == 200
    result = response.json()
    assert result["status"] == 200
    assert ncpdp_parse.parse_message(result["response"].encode()).message_type == "Status"
    [(headers, parsed)] = FakeEhr.received
    assert headers["X-Pharmacy-Id"] == "1234567"
    assert parsed.message_type == "RxRenewalRequest"
    assert parsed.message_id == result["message_id"]
    assert parsed.relates_to_message_id == "newrx-9"
    assert parsed.prescriber_order_number == "ORD-9"
    assert (parsed.fields["quantity"], parsed.fields["refills"], parsed.fields["note"]) == (
        "90",
        "3",
        "Renew?",
    )


def test_send_change_posts_a_signed_request(sim, ehr):
    response = send(sim, "change", ehr, request_code="T", drug_description="Enalapril 10 MG Oral Tablet")

    assert response.json()["status"] == 200
    [(_, parsed)] = FakeEhr.received
    assert parsed.message_type == "RxChangeRequest"
    assert parsed.fields["request_code"] == "T"
    assert parsed.fields["drug_description"] == "Enalapril 10 MG Oral Tablet"


def test_send_change_with_several_options(sim, ehr):
    options = [
        {"drug_description": "Enalapril 10 MG Oral Tablet", "rxnorm_code": "858813"},
        {"drug_description": "Losartan 50 MG Oral Tablet", "rxnorm_code": "979485", "refills": 2},
    ]
    assert send(sim, "change", ehr, request_code="T", requested=options).json()["status"] == 200
    [(_, parsed)] = FakeEhr.received
    assert [o["drug_description"] for o in parsed.fields["requested"]] == [
        o["drug_description"] for o in options
    ]
    assert parsed.fields["requested"][1]["refills"] == "2"
    assert send(sim, "change", ehr, requested="x").status_code == 400


@pytest.mark.parametrize(
    "kind, fields, expect",
    [
        ("status", {"code": "010"}, ("Status", "010")),
        ("verify", {}, ("Verify", "010")),
        ("error", {"code": "900", "description": "bad DEA schedule"}, ("Error", "900")),
    ],
)
def test_send_asynchronous_answers(sim, ehr, kind, fields, expect):
    assert send(sim, kind, ehr, **fields).json()["status"] == 200
    [(_, parsed)] = FakeEhr.received
    assert (parsed.message_type, parsed.fields["code"]) == expect
    assert parsed.relates_to_message_id == "newrx-9"
    assert send(sim, kind, ehr, relates_to_message_id="").status_code == 400


def test_send_cancel_response(sim, ehr):
    response = send(sim, "cancel-response", ehr, approved=False, reason_codes=["AR"])

    assert response.json()["status"] == 200
    [(_, parsed)] = FakeEhr.received
    assert parsed.message_type == "CancelRxResponse"
    assert (parsed.fields["outcome"], parsed.fields["reason_codes"]) == ("denied", ["AR"])


def test_send_refuses_bad_input_and_reports_unreachable_targets(sim, ehr):
    # Issue 18 #10: only the EHR URL configured at start-up is a target (was: 400 for file://, any http URL sent).
    assert send(sim, "renewal", ehr, target_url="file:///etc/passwd").status_code == 403
    assert send(sim, "renewal", ehr, target_url="http://127.0.0.1:9/inbound").status_code == 403
    assert send(sim, "renewal", ehr, secret="").status_code == 400
    assert send(sim, "renewal", ehr, quantity="0").status_code == 400
    assert send(sim, "change", ehr, request_code="F").status_code == 400  # no formulary code (§4)

    SERVERS[sim].target_url = "http://127.0.0.1:9/inbound"  # the configured EHR is down
    unreachable = requests.post(
        f"{sim}/control/send-renewal",
        json={"secret": SECRET, "pharmacy_ncpdp_id": "1234567"},
        headers=CONTROL,
        timeout=10,
    )
    assert unreachable.status_code == 502
    assert FakeEhr.received == []


# ------------------------------------------------------------------ issue 18 #10: the control API is protected


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/control/stats"),
        ("post", "/control/reset"),
        ("post", "/control/mode"),
        ("post", "/control/send-renewal"),
        ("post", "/control/send-error"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", TOKEN, f"Basic {TOKEN}"])
def test_control_api_refuses_requests_without_the_token(sim, ehr, method, path, authorization):
    SERVERS[sim].target_url = f"{ehr}/erx/inbound"
    set_mode(sim, delay_ms=0)
    headers = {"Authorization": authorization} if authorization else {}
    payload = {"secret": SECRET, "pharmacy_ncpdp_id": "1234567", "relates_to_message_id": "x", "fail_rate": 1}
    response = getattr(requests, method)(f"{sim}{path}", json=payload, headers=headers, timeout=10)
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert FakeEhr.received == []
    assert stats(sim)["mode"]["fail_rate"] == 0.0  # nothing changed
    # The pharmacy's own endpoint and the health check stay open.
    assert requests.get(f"{sim}/healthz", timeout=10).status_code == 200


def test_send_goes_only_to_the_configured_target(sim, ehr):
    SERVERS[sim].target_url = None  # started without --target-url: sending is off
    off = requests.post(
        f"{sim}/control/send-renewal",
        json={"target_url": f"{ehr}/erx/inbound", "secret": SECRET, "pharmacy_ncpdp_id": "1234567"},
        headers=CONTROL,
        timeout=10,
    )
    assert off.status_code == 403 and "target-url" in off.json()["error"]
    assert send(sim, "renewal", ehr, target_url=f"{ehr}/elsewhere").status_code == 403
    assert FakeEhr.received == []
    # With the configured target the payload need not name it; the secret may come from the configuration.
    SERVERS[sim].secret = SECRET
    sent = requests.post(
        f"{sim}/control/send-renewal", json={"pharmacy_ncpdp_id": "1234567"}, headers=CONTROL, timeout=10
    )
    assert sent.status_code == 200 and sent.json()["status"] == 200
    assert len(FakeEhr.received) == 1


def test_simulator_process_generates_a_control_token_when_none_is_given():
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("PHARMACY_SIM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pharmacy_sim", "--port", "0"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Never hang on a simulator that prints no token: it is stopped after 30 s, and readline then returns "".
    # (Not select() on the pipe: the first readline may already have buffered the second line.)
    timer = threading.Timer(30, proc.terminate)
    timer.start()
    try:
        lines = [proc.stderr.readline(), proc.stderr.readline()]
    finally:
        timer.cancel()
        proc.terminate()
        proc.wait(10)
    assert lines[0].startswith("pharmacy simulator listening on http://")
    token = lines[1].removeprefix("control API token: ").strip()
    assert lines[1].startswith("control API token: ") and len(token) >= 40
