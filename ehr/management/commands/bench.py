"""manage.py bench [--size ci|small|full] [--rounds N] [--json PATH]

Seeds the database up to the size if it holds less (bench/seeders.py), then measures the figures of
docs/benchmark.md and prints them with their targets. `python3 dev.py bench ARGS` runs this against its own
PostgreSQL data folder (var/pgdata-bench).
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings

from bench import figures, seeders, sizes
from bench.http import fig_http

DEFAULT_JSON = Path(__file__).resolve().parents[3] / "bench" / "results" / "latest.json"


def _counts() -> dict[str, int]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM patients_patient p JOIN patients_department d ON d.id = p.department_id "
            "WHERE d.name = %s",
            [seeders.BENCH_DEPARTMENT],
        )
        patients = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audit_accessevent WHERE actor_username LIKE 'bench.%%'")
        events = cur.fetchone()[0]
        cur.execute("SELECT to_regclass('encounters_encounter')")
        encounters = 0
        if cur.fetchone()[0]:
            cur.execute("SELECT count(*) FROM encounters_encounter")
            encounters = cur.fetchone()[0]
    return {"patients": patients, "audit_events": events, "encounters": encounters}


class Command(BaseCommand):
    help = "Benchmark search, chart, the one door, HTTP throughput and audit reports at a named size."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=sorted(sizes.SIZES), default="ci")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
        parser.add_argument("--no-seed", action="store_true", help="measure what is there; do not top up")
        parser.add_argument("--only", nargs="*", choices=[n for n, _ in figures.FIGURES] + ["http"])
        parser.add_argument("--repeat", type=int, default=20, help="chart and door requests per round")
        parser.add_argument("--http-duration", type=int, default=10, help="seconds per wrk run")
        parser.add_argument("--http-workers", type=int, default=3, help="gunicorn sync workers")
        parser.add_argument(
            "--http-rounds", type=int, default=None, help="wrk runs per figure (default: rounds, at most 3)"
        )

    def handle(self, *args, **opts):
        t_start = time.perf_counter()
        target = sizes.SIZES[opts["size"]]
        seeding = {}
        have = _counts()
        missing = {k: max(0, target[k] - have.get(k, 0)) for k in target}
        # top up only what is clearly short (the bench's own runs add a few hundred events, never patients)
        if not opts["no_seed"] and any(missing[k] > target[k] * 0.01 for k in missing):
            if seeders.foreign_patients_exist():
                raise CommandError(
                    "this database holds patients outside the bench department: run the bench on "
                    "its own database (python3 dev.py bench), or seed with --force, or --no-seed"
                )
            self.stdout.write(f"seeding up to {opts['size']}: have {have}, adding {missing}")
            ctx = seeders.seed_run(counts=missing, out=self.stdout.write)
            seeding = {"added": missing, "timings": ctx.timings, "notes": ctx.notes}
            have = _counts()
        self.stdout.write(f"data: {have}")

        b = figures.Bench(
            rounds=max(1, opts["rounds"]),
            rng=random.Random(7),
            out=self.stdout.write,
            repeat=max(1, opts["repeat"]),
            verify_window=min(100_000, target["audit_events"] // 4),
        )
        figures.bench_users(b)
        only = opts["only"]
        # Plain static storage, as the gunicorn run below has it: no collectstatic manifest needed (the hashed
        # name look-up it saves is one dict access per {% static %}).
        plain = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(STORAGES=plain):
            for name, fn in figures.FIGURES:
                if only and name not in only:
                    continue
                t0 = time.perf_counter()
                fn(b)
                self.stdout.write(f"  measured {name} in {time.perf_counter() - t0:.1f} s")
        if not only or "http" in only:
            t0 = time.perf_counter()
            fig_http(
                b,
                duration=opts["http_duration"],
                workers=opts["http_workers"],
                rounds=opts["http_rounds"] or min(b.rounds, 3),
            )
            self.stdout.write(f"  measured http in {time.perf_counter() - t0:.1f} s")

        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            pg = cur.fetchone()[0]
        meta = {
            "size": opts["size"],
            "data": have,
            "rounds": b.rounds,
            "when": datetime.now(UTC).isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gib": _mem_gib(),
                "python": platform.python_version(),
                "postgres": pg,
                "platform": platform.platform(),
            },
            "seeding": seeding,
            "notes": b.notes,
            "seconds": round(time.perf_counter() - t_start, 1),
        }
        path = Path(opts["json"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": meta, "figures": b.results}, indent=2, default=str))
        self.stdout.write(table(b.results))
        for n in b.notes:
            self.stdout.write(f"note: {n}")
        self.stdout.write(f"wrote {path} ({meta['seconds']} s)")


def _mem_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def table(results: dict) -> str:
    """A plain-text table: figure, median [min - max] over rounds, target, met/missed."""
    lines = [f"{'figure':<44} {'median':>10} {'min':>10} {'max':>10}  {'unit':<9} {'target':<16} result"]
    lines.append("-" * len(lines[0]))
    for r in results.values():
        if "skipped" in r:
            lines.append(
                f"{r['label']:<44} {'—':>10} {'':>10} {'':>10}  {r['unit']:<9} {'':<16} skipped: "
                f"{r['skipped']}"
            )
            continue
        res = "" if "met" not in r else ("met" if r["met"] else "MISSED")
        errs = (r.get("detail") or {}).get("errors")
        if errs is not None:
            res = f"{res} ({errs} errors)".strip()
        lines.append(
            f"{r['label']:<44} {r['median']:>10g} {r['min']:>10g} {r['max']:>10g}  {r['unit']:<9} "
            f"{r.get('target', ''):<16} {res}"
        )
    return "\n".join(lines)
