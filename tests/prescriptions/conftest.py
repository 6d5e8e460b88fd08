"""Prescribing fixtures: a tiny catalog (through the same importer as production), pharmacies, a running simulator."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTS = [
    {
        "rxcui": "855332",
        "name": "Warfarin Sodium 5 MG Oral Tablet",
        "tty": "SCD",
        "strength": "5 MG",
        "dose_form": "Oral Tablet",
        "ingredients": [{"name": "Warfarin Sodium", "rxcui": "114194"}],
    },
    {
        "rxcui": "197806",
        "name": "Ibuprofen 600 MG Oral Tablet",
        "tty": "SCD",
        "strength": "600 MG",
        "dose_form": "Oral Tablet",
        "ingredients": [{"name": "Ibuprofen", "rxcui": "5640"}],
    },
    {
        "rxcui": "308182",
        "name": "Amoxicillin 250 MG Oral Capsule",
        "tty": "SCD",
        "strength": "250 MG",
        "dose_form": "Oral Capsule",
        "ingredients": [{"name": "Amoxicillin", "rxcui": "723"}],
    },
    {
        "rxcui": "1049621",
        "name": "Oxycodone Hydrochloride 5 MG Oral Tablet",
        "tty": "SCD",
        "strength": "5 MG",
        "dose_form": "Oral Tablet",
        "ingredients": [{"name": "Oxycodone Hydrochloride", "rxcui": None}],
    },
    {
        "rxcui": "314076",
        "name": "Lisinopril 10 MG Oral Tablet",
        "tty": "SCD",
        "strength": "10 MG",
        "dose_form": "Oral Tablet",
        "ingredients": [{"name": "Lisinopril", "rxcui": "29046"}],
    },
    {"rxcui": "5640", "name": "Ibuprofen", "tty": "IN/MIN/BN/other", "ingredients": []},
]
PAIRS = [
    {
        "source": "hl7-pddi-cds",
        "severity": "high",
        "description": "warfarin + NSAIDs: bleeding risk",
        "drug_a": {"key": "warfarin"},
        "drug_b": {"key": "ibuprofen"},
    },
    {
        "source": "onc-non-interruptive",
        "severity": "low",
        "description": "ACE inhibitor + NSAID",
        "drug_a": {"key": "lisinopril"},
        "drug_b": {"key": "ibuprofen"},
    },
]


@pytest.fixture
def catalog(db):
    from prescriptions.catalog import catalog_import_interactions, catalog_import_products
    from prescriptions.models import Medication

    catalog_import_products(products=PRODUCTS, schedules={"1049621": "II"})
    catalog_import_interactions(pairs=PAIRS)
    return {m.rxcui: m for m in Medication.objects.all()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Simulator:
    def __init__(self, url: str, token: str):
        self.url = url
        self.token = token

    def _call(self, path: str, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local simulator
            return json.loads(resp.read())

    def stats(self):
        return self._call("/control/stats")

    def reset(self):
        return self._call("/control/reset", {})

    def mode(self, **kw):
        return self._call("/control/mode", kw)

    def send(self, kind: str, payload: dict):
        return self._call(f"/control/send-{kind}", payload)


def start_simulator(target_url: str = ""):
    """`python -m pharmacy_sim` on a free port with a fresh control token (and the EHR URL it may send to)."""
    import os
    import secrets

    port = free_port()
    token = secrets.token_urlsafe(32)
    env = {**os.environ, "PHARMACY_SIM_CONTROL_TOKEN": token, "PHARMACY_SIM_TARGET_URL": target_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pharmacy_sim", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sim = Simulator(f"http://127.0.0.1:{port}", token)
    deadline = time.monotonic() + 20
    while True:
        try:
            sim._call("/healthz")
            return proc, sim
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("pharmacy simulator did not start") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def simulator_proc():
    """`python -m pharmacy_sim` on a free port, for the whole session (it sends nothing: no target)."""
    proc, sim = start_simulator()
    yield sim
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def live_simulator(live_server, pharmacies):
    """A simulator whose /control/send-* reaches this test's live server; the electronic pharmacy points at it."""
    from django.urls import reverse

    proc, sim = start_simulator(live_server.url + reverse("prescriptions:inbound"))
    pharmacy = pharmacies["electronic"]
    pharmacy.endpoint = sim.url + "/ncpdp"
    pharmacy.save(update_fields=["endpoint"])
    yield sim
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def simulator(simulator_proc):
    simulator_proc.reset()
    return simulator_proc


@pytest.fixture
def pharmacies(db, simulator_proc):
    """An electronic pharmacy pointing at the simulator, and a fax-only one."""
    from prescriptions.models import Pharmacy

    sim = Pharmacy.objects.create(
        ncpdp_id="1234567",
        npi="1234567893",
        name="Simulated Pharmacy",
        address_line="1 Main St",
        city="Springfield",
        state="IL",
        postal_code="62701",
        phone="2175550100",
        accepts=["NewRx", "CancelRx", "RxRenewalResponse", "RxChangeResponse"],
        endpoint=simulator_proc.url + "/ncpdp",
        inbound_secret="s3cret-shared-with-the-pharmacy",
        is_electronic=True,
    )
    fax = Pharmacy.objects.create(
        ncpdp_id="7654321", name="Corner Drugstore", phone="2175550111", fax="2175550112", is_electronic=False
    )
    return {"electronic": sim, "fax": fax}


def give_address(patient):
    patient.addresses = [
        {
            "use": "home",
            "line": "12 Elm St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        }
    ]
    patient.save(update_fields=["addresses"])
    return patient


def rx_data(med, **kw):
    data = {
        "medication_id": med.pk,
        "dose": 1,
        "dose_unit": "tablet",
        "route": "PO",
        "frequency": "BID",
        "duration_days": 10,
        "quantity": 20,
        "quantity_unit": "C48542",
        "refills": 0,
    }
    data.update(kw)
    return data


def signed_rx(prescriber, patient, med, pharmacy, *, totp_code: str = "", **kw):
    """A prescription written and signed (its NewRx queued when the pharmacy is electronic)."""
    from prescriptions import services, signature
    from tests.factories import PASSWORD

    give_address(patient)
    rx = services.prescription_create(
        actor=prescriber, patient_id=patient.pk, data=rx_data(med, pharmacy=pharmacy, **kw)
    )
    signature.prescription_sign(
        actor=prescriber, prescription_id=rx.pk, password=PASSWORD, totp_code=totp_code
    )
    rx.refresh_from_db()
    return rx


def totp_device(user):
    """(device, base32 secret) of a confirmed authenticator for `user`."""
    import base64

    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="phone", defaults={"confirmed": True})
    return device, base64.b32encode(device.bin_key).decode().rstrip("=")


def post_inbound(client, body: bytes, *, pharmacy_id="1234567", secret="s3cret-shared-with-the-pharmacy"):
    """POST a pharmacy message to the inbound endpoint, signed like a pharmacy signs it."""
    from django.urls import reverse

    from prescriptions import signing

    headers = signing.sign_request(secret, body, pharmacy_id=pharmacy_id)
    return client.post(
        reverse("prescriptions:inbound"), data=body, content_type="application/xml", headers=headers
    )
