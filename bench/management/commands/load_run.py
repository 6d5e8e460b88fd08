"""manage.py load_run [--minutes 10] [--users 50] [--workers 4] [--no-seed] [--json PATH]

The load and soak run of docs/benchmark.md ("Load and soak"): bench/load/runner.py. Exit code 1 on any error,
any response showing a patient without its access event, or a broken audit chain.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bench.load.runner import load_run, report


class Command(BaseCommand):
    help = (
        "Simulated staff (locust) against gunicorn + a Celery worker; throughput, p95 per page, audit check."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=10)
        parser.add_argument("--users", type=int, default=50)
        parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
        parser.add_argument("--no-seed", action="store_true", help="use the database as it is")
        parser.add_argument("--password", default=None, help="the staff's password (prescription signing)")
        parser.add_argument("--json", type=Path, default=None)

    def handle(self, *args, minutes, users, workers, no_seed, password, json: Path | None = None, **opts):
        from accounts.demo import DEMO_PASSWORD

        result = load_run(
            users=users,
            seconds=int(minutes * 60),
            workers=workers,
            seed=not no_seed,
            password=password or DEMO_PASSWORD,
        )
        self.stdout.write(report(result))
        if json:
            json.write_text(_dumps(result))
        t = result["stats"]["total"]
        if t.get("failures") or result["audit"]["gaps"] or not result["audit_verify_ok"]:
            raise CommandError("the load run had errors, audit gaps or a broken chain", returncode=1)


def _dumps(result) -> str:
    return json.dumps(result, indent=2, default=str)
