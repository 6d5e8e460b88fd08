"""Fuzz budget: CI runs a few thousand generated requests in all; `--fuzz-long` (tests/conftest.py) runs 100,000.

Each fuzz test takes its share of the budget from `examples(request, n_tests)`; the number of requests actually
sent is printed at the end of the run.
"""

import math
from types import SimpleNamespace

import pytest
from django.test import Client
from hypothesis import HealthCheck, Phase, settings

from tests.conftest import verified_client
from tests.fuzz import checks
from tests.test_authorization_matrix import MODULES, PERSONAS

CI_TOTAL = 2_000
LONG_TOTAL = 100_000


def examples(config, n_tests: int, share: float = 1.0) -> int:
    total = LONG_TOTAL if config.getoption("--fuzz-long") else CI_TOTAL
    return max(3, math.ceil(total * share / n_tests))


def fuzz_settings(config, n_tests: int, share: float = 1.0):
    long = config.getoption("--fuzz-long")
    return settings(
        max_examples=examples(config, n_tests, share),
        deadline=None,
        derandomize=not long,  # CI: the same cases every run; the long run explores
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        # No shrinking: the failure message names the whole request, and shrinking a failure found in a few
        # thousand requests costs more than the run.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )


def pytest_terminal_summary(terminalreporter):
    if checks.COUNT["requests"]:
        terminalreporter.write_line(f"fuzz: {checks.COUNT['requests']} generated requests sent")


@pytest.fixture
def world(request, patient, other_patient):
    """ctx as the authorization matrix builds it, and a signed-in client per persona (plus one that enforces CSRF
    and never sends the token)."""
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    ctx = SimpleNamespace(patient=patient, other_patient=other_patient, users=users, **users)
    clients, csrf_clients = {"anonymous": Client()}, {"anonymous": Client(enforce_csrf_checks=True)}
    for p, u in users.items():
        clients[p] = verified_client(Client(), u)
        csrf_clients[p] = verified_client(Client(enforce_csrf_checks=True), u)

    def setup(app):
        if hasattr(MODULES[app], "setup"):
            MODULES[app].setup(ctx)

    return SimpleNamespace(ctx=ctx, users=users, clients=clients, csrf_clients=csrf_clients, setup=setup)
