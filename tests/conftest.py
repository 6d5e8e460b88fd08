"""Shared fixtures: personas per role, a patient with a care team, a real Celery worker, and Chromium.

Personas (healthchecks style): `clinician` treats `patient` (care team); `colleague` is a clinician outside the team;
`nurse` is on the team; `front_desk` and `admin_user` are in the patient's department; `privacy` is the privacy officer.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from accounts.roles import Role
from tests.factories import PASSWORD, DepartmentFactory, PractitionerFactory, UserFactory, make_patient

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


def pytest_addoption(parser):
    # tests/fuzz/: the long fuzz run (100,000 generated requests instead of CI's few thousand).
    parser.addoption("--fuzz-long", action="store_true", default=False, help="run the 100,000-case fuzz run")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # PBKDF2 at Django's production cost takes ~0.2-0.5 s per persona and most tests make several; tests only need a
    # working hash. The product keeps Django's default (tests/accounts/test_password_hashing.py).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clinic_units_not_cached_across_tests():
    # The clinic's units are cached outside the database (encounters/units.py); the database is emptied between
    # tests without the signals that drop that value, so a test that changed the units must not leave them behind.
    yield
    from django.core.cache import cache

    from encounters.units import CACHE_KEY

    with contextlib.suppress(Exception):  # a test that stopped Redis on purpose
        cache.delete(CACHE_KEY)


@pytest.fixture
def department(db):
    return DepartmentFactory(name="Family Medicine")


@pytest.fixture
def clinician(db):
    return PractitionerFactory(
        user=UserFactory(username="dr.alice", first_name="Alice", last_name="Able", roles=[Role.CLINICIAN])
    ).user


@pytest.fixture
def colleague(db):
    return PractitionerFactory(
        user=UserFactory(username="dr.bob", first_name="Bob", last_name="Baker", roles=[Role.CLINICIAN]),
        npi="1245319599",
        dea_number="BB1388568",
    ).user


@pytest.fixture
def nurse(db):
    return UserFactory(username="nurse.nina", first_name="Nina", last_name="Nurse", roles=[Role.NURSE])


@pytest.fixture
def front_desk(db, department):
    u = UserFactory(username="desk.dan", first_name="Dan", last_name="Desk", roles=[Role.FRONT_DESK])
    department.members.add(u)
    return u


@pytest.fixture
def admin_user(db, department):
    u = UserFactory(
        username="admin.amy", first_name="Amy", last_name="Admin", roles=[Role.PRACTICE_ADMIN], is_staff=True
    )
    department.members.add(u)
    return u


@pytest.fixture
def privacy(db):
    return UserFactory(
        username="privacy.pat", first_name="Pat", last_name="Privacy", roles=[Role.PRIVACY_OFFICER]
    )


@pytest.fixture
def patient(db, department, clinician, nurse):
    from patients.services import care_team_grant

    p = make_patient(department=department)
    care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
    care_team_grant(patient=p, user=nurse, care_role="Nurse")
    return p


@pytest.fixture
def other_patient(db):
    """A patient in no department and with nobody on the team: everyone above is an outsider."""
    return make_patient(
        given_name="Olaf",
        family_name="Other",
        birth_date="1955-11-30",
        ssn="987-65-4321",
        phones=[{"use": "home", "value": "555-999-1111"}],
    )


def verified_client(client, user):
    """A test client signed in with a verified second factor (what the middleware demands of these roles)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def login(client):
    """login(user) -> a client signed in as user, second factor verified."""

    def _login(user):
        return verified_client(client, user)

    return _login


# ------------------------------------------------------------------ real Celery worker on the real broker
# Extra environment for the worker process (one worker per session: add here, not per test).
WORKER_EXTRA_ENV: dict[str, str] = {}


class TestWorker:
    """A real `celery worker` subprocess on the real Redis broker and the test database, for one test at a time.

    Started for each test that asks for it and stopped after it: a worker left running beside the tests that drive
    the services directly would race them (it would send the outbox rows they send themselves), and a worker cannot
    outlive test_chaos's Redis restart (with kombu 5.7 a worker exits when Redis goes away while it re-connects).
    Tasks queued while no worker runs wait in Redis; they name rows of earlier tests, so the next worker skips them.
    """

    __test__ = False  # not a test class

    def __init__(self, request):
        db = settings.DATABASES["default"]
        # The worker is another process: mail it sends goes to files in `mail_dir` (tests read them there).
        self.mail_dir = Path(tempfile.mkdtemp(prefix="ehr-test-mail-"))
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "EHR_TEST_MODE": "1",
            "EMAIL_BACKEND": "tests.patients.mail_backend.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            **WORKER_EXTRA_ENV,
        }
        # One log per run (runs may overlap); kept only when a test failed, for the post-mortem.
        self.log_path = ROOT / "var" / f"test-worker-{os.getpid()}.log"
        self.log = open(self.log_path, "a") if (ROOT / "var").exists() else subprocess.DEVNULL  # noqa: SIM115
        self.request = request
        self.name = f"test-{os.getpid()}@{socket.gethostname()}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.worker_app",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                self.name,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.proc.mail_dir = self.mail_dir
        if not self._answers(60):
            self.stop()
            raise RuntimeError(f"the Celery worker did not answer a ping within 60 s; see {self.log_path}")
        return self.proc

    def _answers(self, within: float) -> bool:
        from ehr.celery import app

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if app.control.ping(destination=[self.name], timeout=0.5):
                    return True
            except Exception:  # broker not answering yet  # noqa: S110
                pass
        return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # warm shutdown: the task in hand finishes
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def close(self) -> None:
        self.stop()
        if self.log is not subprocess.DEVNULL:
            self.log.close()
            if not self.request.session.testsfailed:
                self.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def _test_worker(request, django_db_setup, django_db_blocker):
    worker = TestWorker(request)
    yield worker
    worker.close()


@pytest.fixture
def celery_worker_proc(_test_worker):
    """A real `celery worker` subprocess running for this test."""
    yield _test_worker.start()
    _test_worker.stop()


def wait_until(predicate, timeout: float = 20, interval: float = 0.2):
    """Poll until predicate() is truthy (for work a real worker does). Returns its value or fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# ------------------------------------------------------------------ Chromium through Playwright
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    yield pg
    ctx.close()


ARTIFACTS = ROOT / "test-artifacts"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def totp_now(secret_b32: str, at: float | None = None) -> str:
    """The current RFC 6238 code for a base32 secret (what an authenticator app shows)."""
    import base64

    from django_otp.oath import TOTP

    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    t = TOTP(key)
    if at is not None:
        t.time = at
    return f"{t.token():06d}"


def browser_login(page, user, *, password: str = PASSWORD):
    """Sign in through the real login page; enrol or verify TOTP as the middleware asks. Returns the secret."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    if "/accounts/mfa/enroll/" in page.url:
        secret = page.inner_text("[data-testid=totp-secret]").strip()
        page.fill("#id_token", totp_now(secret))
        page.click("main button[type=submit]")
        page.wait_for_selector("[data-testid=recovery-codes]")
        page.click("text=I have saved them, continue")
        return secret
    if "/accounts/mfa/verify/" in page.url:
        device = TOTPDevice.objects.get(user=user, confirmed=True)
        import base64

        secret = base64.b32encode(device.bin_key).decode().rstrip("=")
        page.fill("#id_token", totp_now(secret))
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        return secret
    return None
