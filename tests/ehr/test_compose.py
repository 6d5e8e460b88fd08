"""docker-compose.yml: gunicorn only on loopback (the TLS proxy is the way in); workers start after migrate.

Reads `docker-compose config` (anchors resolved), as CI does; skipped where docker-compose is not installed.
"""

import re
import shutil
import subprocess

import pytest

from tests.ehr.test_security_headers import ROOT

pytestmark = pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")


@pytest.fixture(scope="module")
def services() -> dict[str, str]:
    result = subprocess.run(
        ["docker-compose", "--env-file", "deploy/env.example", "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body = ("\n" + result.stdout).split("\nservices:\n", 1)[1]
    body = re.split(r"\n\S", body, maxsplit=1)[0]  # up to the next top-level key (volumes:)
    parts = re.split(r"^  ([\w-]+):\n", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_web_port_is_published_on_loopback_only(services):
    published = [name for name, text in services.items() if "ports:" in text]
    assert published == ["web"]
    assert (
        re.findall(r"^\s+- (\S+)$", services["web"].split("ports:", 1)[1], flags=re.M)[0]
        == "127.0.0.1:8000:8000/tcp"
    )


@pytest.mark.parametrize("name", ["web", "worker", "beat", "hl7-listener"])
def test_app_processes_wait_for_the_migrations(services, name):
    assert re.search(
        r"depends_on:\n\s+migrate:\n\s+condition: service_completed_successfully", services[name]
    )
