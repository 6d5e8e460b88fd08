"""Figure 6: e-prescription sign-to-delivered latency at a sustained rate.

The bench clinician writes and signs prescriptions through prescriptions.services (the same calls as the signing
page: the door, the checks, the password again, the outbox row and its queued task) at a steady rate, for
patients on their care team. A real Celery worker (its own queue) sends each NewRx to the pharmacy simulator
(`python -m pharmacy_sim`), which answers Status 010; the latency is the prescription's `signed_at` to the time of
its "delivered" timeline event, both written by the product.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

from .measure import percentile, spread

ROOT = Path(__file__).resolve().parent.parent
SIM_NCPDP_ID = "9900001"  # the bench's electronic pharmacy (bench/seeders/reference.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    d = connection.settings_dict
    auth = d["USER"] + (f":{d['PASSWORD']}" if d.get("PASSWORD") else "")
    return f"postgres://{auth}@{d['HOST']}:{d['PORT']}/{d['NAME']}"


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


SIM_TOKEN = secrets.token_urlsafe(32)  # the simulator's control token, new per process


@contextlib.contextmanager
def simulator():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pharmacy_sim", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PHARMACY_SIM_CONTROL_TOKEN": SIM_TOKEN},  # its control API needs the token
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)  # noqa: S310 (local simulator)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the pharmacy simulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        _stop(proc)


def _queue() -> str:
    """The Celery queue of this run: the configured one, unless it is the shared default (a demo worker on the
    same Redis would take our tasks)."""
    from ehr.celery import app

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    if not queue or queue == "celery":
        queue = f"bench-{os.getpid()}"
    app.conf.task_default_queue = queue  # before the first task is sent
    return queue


@contextlib.contextmanager
def worker(queue: str, *, concurrency: int):
    """A real `celery worker` on this database and broker, consuming only `queue`."""
    from ehr.celery import app

    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_QUEUE": queue}
    log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ehr",
            "worker",
            "-l",
            "warning",
            "--concurrency",
            str(concurrency),
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        name = f"{queue}@{socket.gethostname()}"
        while True:
            with contextlib.suppress(Exception):
                if app.control.ping(destination=[name], timeout=1.0):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start; see {log.name}")
        yield log.name
    finally:
        _stop(proc)


def _patients(clinician, k: int) -> list[str]:
    """Patients on the clinician's care team with a home address (NCPDP needs it), without allergies or
    active medications, so that no interaction alert needs an override reason. fig_erx completes the courses it
    started, so the same patients qualify again in the next run."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.id::text FROM patients_patient p JOIN patients_careteammember c ON c.patient_id = p.id "
            "WHERE c.user_id = %s AND p.addresses IS NOT NULL AND p.family_name <> 'Benchmark' "
            "AND p.allergy_status <> 'has' "
            "AND NOT EXISTS (SELECT 1 FROM encounters_medicationstatement m WHERE m.patient_id = p.id "
            "AND m.status = 'active') "
            "ORDER BY p.id LIMIT %s",
            [clinician.pk, k],
        )
        return [r[0] for r in cur.fetchall()]


def _medications(k: int) -> list[int]:
    with connection.cursor() as cur:
        cur.execute(
            # Oral tablets: the figure's sig is "1 tablet by mouth", which the product refuses for other forms.
            "SELECT id FROM prescriptions_medication WHERE is_active AND tty = 'SCD' AND dea_schedule = '' "
            "AND lower(dose_form) = 'oral tablet' ORDER BY rxcui LIMIT %s",
            [k],
        )
        return [r[0] for r in cur.fetchall()]


def _latencies(ids: list[str]) -> tuple[list[float], int]:
    """ms from signed_at to the delivered event, per prescription delivered; and how many are not delivered."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT rx.id, extract(epoch FROM (min(e.at) - rx.signed_at)) * 1000 FROM prescriptions_prescription rx "
            "LEFT JOIN prescriptions_prescriptionevent e ON e.prescription_id = rx.id AND e.status = 'delivered' "
            "WHERE rx.id = ANY(%s::uuid[]) GROUP BY rx.id, rx.signed_at",
            [ids],
        )
        rows = cur.fetchall()
    done = [float(ms) for _, ms in rows if ms is not None]
    return done, len(ids) - len(done)


def fig_erx(b, *, rate: float, seconds: float, concurrency: int = 2) -> None:
    from django.contrib.auth import get_user_model

    from encounters.models import MedicationStatement, MedicationStatus
    from prescriptions import services, signature
    from prescriptions.models import Pharmacy

    from .figures import TARGETS
    from .seeders import BENCH_PASSWORD

    key = "erx_sign_to_delivered"
    label = "e-prescription sign-to-delivered"
    pharmacy = Pharmacy.objects.filter(ncpdp_id=SIM_NCPDP_ID).first()
    clinician = get_user_model().objects.get(pk=b.clinician.pk)
    per_round = max(2, round(rate * seconds))
    patients = _patients(clinician, 200)
    meds = _medications(20)
    why = (
        "the bench pharmacy is not seeded"
        if pharmacy is None
        else "no granted patient with an address and no medications"
        if not patients
        else "no catalog drug"
        if not meds
        else ""
    )
    if why:
        for p in ("p50", "p95"):
            b.row(f"{key}_{p}", f"{label} {p}", None, "ms", skipped=why)
        return
    queue = _queue()
    p50s, p95s, lost, signs, sign_ms = [], [], 0, 0, []
    with simulator() as sim, worker(queue, concurrency=concurrency):
        # Reference data edited as a practice admin would in the admin site: the endpoint of this run's simulator.
        Pharmacy.objects.filter(pk=pharmacy.pk).update(endpoint=sim + "/ncpdp")
        n = 0
        for _ in range(max(1, b.rounds)):
            ids = []
            t_start = time.perf_counter()
            for i in range(per_round):
                # a steady rate: the i-th signature is due at t_start + i / rate
                delay = t_start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                data = {
                    "medication_id": meds[n % len(meds)],
                    "dose": 1,
                    "dose_unit": "tablet",
                    "route": "PO",
                    "frequency": "BID",
                    "duration_days": 10,
                    "quantity": 20,
                    "quantity_unit": "C48542",
                    "refills": 0,
                    "pharmacy": pharmacy,
                }
                t0 = time.perf_counter()
                rx = services.prescription_create(
                    actor=clinician, patient_id=patients[n % len(patients)], data=data
                )
                try:
                    signature.prescription_sign(
                        actor=clinician, prescription_id=rx.pk, password=BENCH_PASSWORD
                    )
                except signature.AlertsNeedOverride as exc:  # a duplicate drug on a patient's list, say
                    signature.prescription_sign(
                        actor=clinician,
                        prescription_id=rx.pk,
                        password=BENCH_PASSWORD,
                        override_reasons={a.key: "benchmark: reviewed" for a in exc.alerts},
                    )
                sign_ms.append((time.perf_counter() - t0) * 1000)
                ids.append(str(rx.pk))
                n += 1
            deadline = time.monotonic() + 30
            while True:
                done, missing = _latencies(ids)
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            lost += missing
            signs += len(ids)
            if done:
                p50s.append(percentile(done, 50))
                p95s.append(percentile(done, 95))
        stats_request = urllib.request.Request(
            sim + "/control/stats", headers={"Authorization": f"Bearer {SIM_TOKEN}"}
        )
        stats = json.loads(urllib.request.urlopen(stats_request, timeout=5).read())  # noqa: S310
    # The patients had no active medication before (_patients): every active one now is this run's. Completed, they
    # leave the pool as it was (each run used to exhaust it: a second full run found no patient).
    MedicationStatement.objects.filter(patient_id__in=patients, status=MedicationStatus.ACTIVE).update(
        status=MedicationStatus.COMPLETED
    )
    detail = {
        "rate_per_s": rate,
        "per_round": per_round,
        "signed": signs,
        "not_delivered_in_30s": lost,
        "worker_concurrency": concurrency,
        "create_and_sign_ms": spread(sign_ms, 1) if sign_ms else None,
        "simulator_unique_received": stats.get("unique_received"),
    }
    if not p95s:
        for p in ("p50", "p95"):
            b.row(f"{key}_{p}", f"{label} {p}", None, "ms", skipped=f"nothing delivered: {detail}")
        return
    b.row(f"{key}_p50", f"{label} p50", spread(p50s, 1), "ms", detail=detail)
    b.row(
        f"{key}_p95",
        f"{label} p95",
        spread(p95s, 1),
        "ms",
        target=TARGETS["erx"],
        met=spread(p95s)["median"] <= TARGETS["erx"] and lost == 0,
        detail=detail,
    )
