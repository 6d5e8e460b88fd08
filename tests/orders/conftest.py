"""Orders fixtures: the catalogue (the shipped file, through the same loader as production), a lab, ICD-10 codes,
a running lab simulator and an MLLP listener subprocess when a test needs the wire."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def catalogue(db):
    from orders.catalog import catalog_load
    from orders.models import LabTest

    catalog_load()
    return {t.loinc: t for t in LabTest.objects.all()}


@pytest.fixture
def icd10(db):
    from encounters.models import Icd10Code

    for code, text in [
        ("E11.9", "Type 2 diabetes mellitus without complications"),
        ("I10", "Essential (primary) hypertension"),
    ]:
        Icd10Code.objects.get_or_create(code=code, defaults={"description": text})


@pytest.fixture
def lab(db):
    from orders.catalog import lab_ensure

    # An electronic lab (orders go through the outbox); tests that send point it at a simulator.
    return lab_ensure(
        name="Simulated Reference Lab", facility="LABSIM", application="LABSIM", host="127.0.0.1", port=9
    )


class LabSim:
    def __init__(self, proc, http_port, mllp_port, token):
        self.proc, self.url, self.mllp_port, self.token = (
            proc,
            f"http://127.0.0.1:{http_port}",
            mllp_port,
            token,
        )

    def _call(self, path, payload=None):
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

    def mode(self, **kw):
        return self._call("/control/mode", kw)

    def send(self, kind, payload):
        return self._call(f"/control/send-{kind}", payload)

    def reset(self):
        return self._call("/control/reset", {})

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def start_lab_sim(target_port: int | None) -> LabSim:
    import secrets

    http_port, mllp_port, token = free_port(), free_port(), secrets.token_urlsafe(16)
    args = [sys.executable, "-m", "lab_sim", "--http-port", str(http_port), "--mllp-port", str(mllp_port)]
    if target_port:
        args += ["--target", f"127.0.0.1:{target_port}"]
    env = {**os.environ, "LAB_SIM_CONTROL_TOKEN": token, "HL7_FACILITY": settings.HL7_FACILITY}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim = LabSim(proc, http_port, mllp_port, token)
    deadline = time.monotonic() + 20
    while True:
        try:
            sim._call("/healthz")
            return sim
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("lab simulator did not start") from None
            time.sleep(0.1)


def db_env() -> dict:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EHR_TEST_MODE": "1",
    }


class Listener:
    """`manage.py hl7_listener` against the test database (a subprocess this test may kill)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "hl7_listener", "--port", str(self.port)],
            cwd=ROOT,
            env=db_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("listener exited")
                time.sleep(0.1)
        raise RuntimeError("listener did not start")

    def kill(self):
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def listener(transactional_db):
    lst = Listener()
    yield lst
    lst.stop()


@pytest.fixture
def lab_sim(listener, lab):
    sim = start_lab_sim(listener.port)
    lab.host, lab.port = "127.0.0.1", sim.mllp_port
    lab.save(update_fields=["host", "port"])
    yield sim
    sim.stop()
