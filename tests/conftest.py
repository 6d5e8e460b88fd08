"""Shared fixtures: personas per role, a patient with a care team, a real Celery worker, and Chromium.

Personas (healthchecks style): `clinician` treats `patient` (care team); `colleague` is a clinician outside the team;
`nurse` is on the team; `front_desk` and `admin_user` are in the patient's department; `privacy` is the privacy officer.
"""

import os
import signal
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


@pytest.fixture
def department(db):
    return DepartmentFactory(name="Family Medicine")


@pytest.fixture
def clinician(db):
    return PractitionerFactory(user=UserFactory(username="dr.alice", first_name="Alice", last_name="Able",
                                                roles=[Role.CLINICIAN])).user


@pytest.fixture
def colleague(db):
    return PractitionerFactory(user=UserFactory(username="dr.bob", first_name="Bob", last_name="Baker",
                                                roles=[Role.CLINICIAN]), npi="1245319599", dea_number="BB1388568").user


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
    u = UserFactory(username="admin.amy", first_name="Amy", last_name="Admin", roles=[Role.PRACTICE_ADMIN],
                    is_staff=True)
    department.members.add(u)
    return u


@pytest.fixture
def privacy(db):
    return UserFactory(username="privacy.pat", first_name="Pat", last_name="Privacy", roles=[Role.PRIVACY_OFFICER])


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
    return make_patient(given_name="Olaf", family_name="Other", birth_date="1955-11-30", ssn="987-65-4321",
                        phones=[{"use": "home", "value": "555-999-1111"}])


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


@pytest.fixture(scope="session")
def celery_worker_proc(request, django_db_setup, django_db_blocker):
    """A real `celery worker` subprocess on the real Redis broker and the test database."""
    db = settings.DATABASES["default"]
    # The worker is another process: mail it sends goes to files in `proc.mail_dir` (tests read them there).
    mail_dir = Path(tempfile.mkdtemp(prefix="ehr-test-mail-"))
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "EHR_TEST_MODE": "1", "EMAIL_BACKEND": "tests.patients.mail_backend.EmailBackend",
           "EMAIL_FILE_PATH": str(mail_dir), **WORKER_EXTRA_ENV}
    # One log per run (runs may overlap); kept only when a test failed, for the post-mortem.
    log_path = ROOT / "var" / f"test-worker-{os.getpid()}.log"
    log = open(log_path, "w") if (ROOT / "var").exists() else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.worker_app", "worker", "-l", "info", "--concurrency", "2",
         "--without-gossip", "--without-mingle", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    from ehr.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if app.control.ping(timeout=1.0):
                break
        except Exception:  # broker not answering yet  # noqa: S110
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited at start; see {log_path}")
    else:
        proc.kill()
        raise RuntimeError("the Celery worker did not answer a ping within 60 s")
    proc.mail_dir = mail_dir
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    if log is not subprocess.DEVNULL:
        log.close()
        if not request.session.testsfailed:
            log_path.unlink(missing_ok=True)


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
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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

