#!/usr/bin/env python3
"""The developer's front door: `python3 dev.py run` and `python3 dev.py test`.

Needs nothing but Python 3.11+. Creates `.venv`, installs the project (again only when
pyproject.toml changed), then hands over to `ehr.devstack`, which starts an embedded
PostgreSQL and Redis unless DATABASE_URL / REDIS_URL point at real servers.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".installed-from"


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may be started by an older python3)
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    if not PY.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("Installing dependencies (first run, or pyproject.toml changed) ...", flush=True)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]"], check=True)
        STAMP.write_text(wanted)


def main() -> None:
    args = sys.argv[1:] or ["help"]
    ensure_env()
    if args[0] == "setup":
        return
    os.chdir(ROOT)
    os.execv(str(PY), [str(PY), "-m", "ehr.devstack", *args])  # noqa: S606


if __name__ == "__main__":
    main()
