"""The load and soak run: gunicorn + a Celery worker on this machine, driven by locust (bench/load/locustfile.py)
with simulated staff, then the audit checked against what locust saw.

    python3 dev.py manage load_run --minutes 10 --users 50

1. seed: the demo clinic (`demo_data --if-empty`) unless --no-seed;
2. plan: a signed-in, second-factor-verified session per simulated user (the session the login view and the TOTP
   step leave: bench/http.py), with the patients, appointments and encounters that user may open;
3. serve: gunicorn (production settings over plain http, DEBUG off) and a Celery worker on the same database and
   broker; locust headless for the duration;
4. report: throughput, p95 per page, errors; audit completeness (each response locust logged as showing a patient
   has an access event of that user naming that patient, written within the run's window); `audit_verify`.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("front_desk", "clinician", "nurse", "privacy_officer")


def _staff(role: str, limit: int) -> list:
    return list(
        get_user_model().objects.filter(is_active=True, groups__name=role).order_by("username")[:limit]
    )


# What each role's work needs on a patient: the desk books, nurses document, clinicians prescribe.
NEEDS = {"front_desk": "manage_schedule", "nurse": "change_clinical", "clinician": "prescribe"}


def _patients(user, role: str, n: int = 60) -> list[dict]:
    from patients.access import visible_patients

    rows = visible_patients(user, NEEDS[role]).order_by("?")[:n].values("pk", "family_name", "mrn")
    return [{"id": str(r["pk"]), "family": r["family_name"], "mrn": r["mrn"]} for r in rows]


def plan_build(password: str) -> dict:
    """What each simulated user may work on, from the database as it is."""
    from bench.http import session_cookie
    from encounters.models import Encounter
    from patients.models import Patient
    from prescriptions.models import Medication
    from scheduling.models import Appointment, AppointmentType
    from scheduling.selectors import providers_queryset

    today = timezone.localdate()
    staff = {}
    for role in ROLES:
        people = []
        for u in _staff(role, 10):
            if role == "privacy_officer":
                pats = [
                    {"id": str(p["pk"]), "family": p["family_name"], "mrn": p["mrn"]}
                    for p in Patient.objects.order_by("?")[:60].values("pk", "family_name", "mrn")
                ]
            else:
                pats = _patients(u, role)
            if not pats:
                continue
            ids = [p["id"] for p in pats]
            appts = Appointment.objects.filter(patient_id__in=ids, start__date__gte=today - timedelta(days=1))
            encs = Encounter.objects.filter(patient_id__in=ids).order_by("-start")[:40]
            people.append(
                {
                    "username": u.username,
                    "cookie_name": settings.SESSION_COOKIE_NAME,
                    "cookie": session_cookie(u).split("=", 1)[1],
                    "password": password,
                    "patients": pats,
                    "appointments": [{"id": str(a.pk), "patient": str(a.patient_id)} for a in appts[:40]],
                    "encounters": [{"id": str(e.pk), "patient": str(e.patient_id)} for e in encs],
                }
            )
        if not people:
            raise RuntimeError(f"no active {role} with patients to work on: seed first")
        staff[role] = people
    desk = staff["front_desk"][0]
    meds = list(Medication.objects.filter(is_active=True, dea_schedule="").values_list("pk", flat=True)[:50])
    return {
        "today": today.isoformat(),
        "staff": staff,
        "appointments": desk["appointments"],
        "providers": [str(pk) for pk in providers_queryset().values_list("pk", flat=True)[:10]],
        "appointment_type": str(AppointmentType.objects.order_by("pk").values_list("pk", flat=True).first()),
        "medications": [str(m) for m in meds],
    }


def _env() -> dict[str, str]:
    from bench.http import _database_url

    return {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "EHR_TEST_MODE": "1",
        "DJANGO_DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
    }


@contextlib.contextmanager
def celery_worker(log_dir: Path):
    log = open(log_dir / "worker.log", "w")  # noqa: SIM115
    cmd = [sys.executable, "-m", "celery", "-A", "ehr", "worker", "-l", "warning", "--concurrency", "2"]
    cmd += ["--without-gossip", "--without-mingle", "-n", f"load-{os.getpid()}@%h"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def locust_run(
    url: str, plan_path: Path, out: Path, *, users: int, seconds: int
) -> subprocess.CompletedProcess:
    env = {
        **_env(),
        "LOAD_PLAN": str(plan_path),
        "LOAD_PHI_LOG": str(out / "phi.json"),
        "LOAD_USERS": str(users),
    }
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load" / "locustfile.py"), "--headless"]
    cmd += ["-u", str(users), "-r", str(max(1, users // 5)), "-t", f"{seconds}s", "--host", url]
    cmd += ["--csv", str(out / "load"), "--only-summary", "--stop-timeout", "10", "--exit-code-on-error", "0"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 180)


def stats_read(out: Path) -> dict:
    rows = list(csv.DictReader(io.StringIO((out / "load_stats.csv").read_text())))
    pages = []
    total = {}
    for r in rows:
        item = {
            "name": f"{r['Type']} {r['Name']}".strip(),
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "p50_ms": float(r["50%"] or 0),
            "p95_ms": float(r["95%"] or 0),
            "rps": float(r["Requests/s"] or 0),
        }
        if r["Name"] == "Aggregated":
            total = item
        else:
            pages.append(item)
    failures = []
    with contextlib.suppress(FileNotFoundError):
        failures = list(csv.DictReader(io.StringIO((out / "load_failures.csv").read_text())))
    return {"total": total, "pages": pages, "failures": failures}


def completeness(phi: list[dict], since, until) -> dict:
    """Each logged PHI response has a successful access event by its user naming its patient, within 30 s."""
    from audit.models import AccessEvent

    times: dict[tuple[str, str], list[float]] = {}
    evs = AccessEvent.objects.filter(occurred_at__gte=since, occurred_at__lte=until, outcome="success")
    for username, pid, pids, at in evs.values_list(
        "actor_username", "patient_id", "patient_ids", "occurred_at"
    ):
        for p in {str(pid)} | {str(x) for x in pids or []}:
            times.setdefault((username, p), []).append(at.timestamp())
    for v in times.values():
        v.sort()
    gaps = []
    for r in phi:
        ts = times.get((r["user"], r["patient"]), [])
        i = bisect.bisect_left(ts, r["t"] - 30)
        if i >= len(ts) or ts[i] > r["t"] + 30:
            gaps.append(r)
    return {"phi_responses": len(phi), "events": evs.count(), "gaps": len(gaps), "gap_examples": gaps[:10]}


def verify() -> tuple[bool, str]:
    buf = io.StringIO()
    try:
        call_command("audit_verify", stdout=buf)
        return True, buf.getvalue().strip()
    except SystemExit as exc:
        return exc.code == 0, buf.getvalue().strip()
    except Exception as exc:  # CommandError: the chain is broken; reported
        return False, f"{buf.getvalue().strip()} {exc}"


def load_run(
    *, users: int, seconds: int, workers: int, seed: bool, password: str, out: Path | None = None
) -> dict:
    from bench.http import gunicorn

    if seed:
        call_command("migrate", "--noinput", verbosity=0)
        call_command("demo_data", "--if-empty")
    out = out or Path(tempfile.mkdtemp(prefix="ehr-load-"))
    plan_path = out / "plan.json"
    plan_path.write_text(json.dumps(plan_build(password)))
    since = timezone.now()
    with gunicorn(workers=workers) as (url, gunicorn_log), celery_worker(out):
        started = time.monotonic()
        proc = locust_run(url, plan_path, out, users=users, seconds=seconds)
        elapsed = time.monotonic() - started
    (out / "locust.log").write_text(proc.stdout + proc.stderr)
    until = timezone.now()
    stats = stats_read(out)
    phi = json.loads((out / "phi.json").read_text()) if (out / "phi.json").exists() else []
    ok, verify_text = verify()
    server_errors = sum(  # (gunicorn's own "[ERROR] Worker ... was sent SIGTERM" at shutdown is not one)
        1
        for line in Path(gunicorn_log).read_text().splitlines()
        if "Traceback" in line or ("ERROR" in line and "was sent SIGTERM" not in line)
    )
    return {
        "users": users,
        "seconds": seconds,
        "elapsed": round(elapsed, 1),
        "gunicorn_workers": workers,
        "stats": stats,
        "audit": completeness(phi, since, until),
        "audit_verify_ok": ok,
        "audit_verify": verify_text,
        "server_log_errors": server_errors,
        "out": str(out),
    }


def report(r: dict) -> str:
    t = r["stats"]["total"]
    lines = [
        f"load run: {r['users']} simulated staff for {r['seconds']} s ({r['elapsed']} s wall), "
        f"gunicorn {r['gunicorn_workers']} workers + 1 Celery worker",
        f"throughput: {t.get('rps', 0):.1f} req/s, {t.get('requests', 0)} requests, {t.get('failures', 0)} errors, "
        f"p95 {t.get('p95_ms', 0):.0f} ms",
        "",
        f"{'page':62} {'requests':>9} {'errors':>7} {'p50 ms':>7} {'p95 ms':>7}",
    ]
    for p in sorted(r["stats"]["pages"], key=lambda p: -p["requests"]):
        lines.append(
            f"{p['name'][:62]:62} {p['requests']:>9} {p['failures']:>7} {p['p50_ms']:>7.0f} {p['p95_ms']:>7.0f}"
        )
    for f in r["stats"]["failures"][:20]:
        lines.append(f"error: {f.get('Method')} {f.get('Name')}: {f.get('Error')} x{f.get('Occurrences')}")
    a = r["audit"]
    lines += [
        "",
        f"audit completeness: {a['phi_responses']} responses showing a patient, {a['gaps']} without their access "
        f"event ({a['events']} access events in the window)",
        f"audit_verify: {'OK' if r['audit_verify_ok'] else 'BROKEN'}: {r['audit_verify']}",
        f"server log errors: {r['server_log_errors']}; logs and CSVs in {r['out']}",
    ]
    return "\n".join(lines)
