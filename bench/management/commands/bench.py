"""manage.py bench [--size ci|small|full] [--rounds N] [--json PATH]

Seeds the database up to the size if it holds less (bench/seeders/), then measures the figures of
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
from bench.bulk import fig_bulk_export
from bench.erx import fig_erx
from bench.fhir import fig_fhir
from bench.hl7 import fig_hl7_ingest
from bench.http import fig_http
from ehr.runtime import freeze_startup_objects

DEFAULT_JSON = Path(__file__).resolve().parents[3] / "bench" / "results" / "latest.json"


def _counts() -> dict[str, int]:
    """What the database holds, in the seed's terms (exact counts: a planner estimate could trigger a top-up)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM patients_patient p JOIN patients_department d ON d.id = p.department_id "
            "WHERE d.name = %s",
            [seeders.BENCH_DEPARTMENT],
        )
        patients = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audit_chainlink")
        events = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM encounters_encounter e JOIN patients_patient p ON p.id = e.patient_id "
            "JOIN patients_department d ON d.id = p.department_id WHERE d.name = %s",
            [seeders.BENCH_DEPARTMENT],
        )
        encounters = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM encounters_appointment a JOIN encounters_location l ON l.id = a.location_id "
            "WHERE l.name = %s",
            [seeders.BENCH_LOCATION],
        )
        appointments = cur.fetchone()[0]
    return {
        "patients": patients,
        "encounters": encounters,
        "appointments": appointments,
        "audit_events": events,
    }


def machine() -> dict:
    """nproc, RAM, CPU model (/proc/cpuinfo), Python and PostgreSQL: what the README states with the table."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        pg_settings = {}
        for name in (
            "shared_buffers",
            "effective_cache_size",
            "work_mem",
            "random_page_cost",
            "fsync",
            "synchronous_commit",
        ):
            cur.execute(f"SHOW {name}")
            pg_settings[name] = cur.fetchone()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _mem_gib(),
        "cpu_model": cpu or platform.processor(),
        "python": platform.python_version(),
        "postgres": pg,
        "shared_buffers": pg_settings["shared_buffers"],
        "postgres_settings": pg_settings,
        "platform": platform.platform(),
    }


class Command(BaseCommand):
    help = "Benchmark search, chart, the one door, HTTP throughput and audit reports at a named size."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=sorted(sizes.SIZES), default="ci")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
        parser.add_argument("--no-seed", action="store_true", help="measure what is there; do not top up")
        parser.add_argument(
            "--only",
            nargs="*",
            choices=[n for n, _ in figures.FIGURES] + ["fhir", "bulk", "erx", "hl7", "http"],
        )
        parser.add_argument("--repeat", type=int, default=20, help="chart and door requests per round")
        parser.add_argument(
            "--sample", type=int, default=20, help="patients per round (search, audit reports)"
        )
        parser.add_argument("--http-duration", type=int, default=10, help="seconds per wrk run")
        parser.add_argument("--http-workers", type=int, default=3, help="gunicorn sync workers")
        parser.add_argument(
            "--http-rounds", type=int, default=None, help="wrk runs per figure (default: rounds, at most 3)"
        )
        parser.add_argument("--fhir-bundles", type=int, default=20, help="bundles imported per round")
        parser.add_argument("--erx-rate", type=float, default=2.0, help="prescriptions signed per second")
        parser.add_argument("--erx-seconds", type=float, default=20.0, help="seconds of signing per round")
        parser.add_argument("--hl7-messages", type=int, default=300, help="ORU^R01 messages per round")
        parser.add_argument("--hl7-connections", type=int, default=4, help="MLLP connections sending at once")
        parser.add_argument("--markdown", default="", help="also write the table as Markdown to this path")

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
            sample=max(2, opts["sample"]),
        )
        figures.bench_users(b)
        freeze_startup_objects()  # what ehr/wsgi.py does in every gunicorn worker
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
        for name, run in (
            ("fhir", lambda: fig_fhir(b, bundles=max(1, opts["fhir_bundles"]))),
            ("bulk", lambda: fig_bulk_export(b, rounds=min(b.rounds, 3))),
            ("erx", lambda: fig_erx(b, rate=opts["erx_rate"], seconds=opts["erx_seconds"])),
            (
                "hl7",
                lambda: fig_hl7_ingest(
                    b, messages=max(1, opts["hl7_messages"]), connections=max(1, opts["hl7_connections"])
                ),
            ),
            (
                "http",
                lambda: fig_http(
                    b,
                    duration=opts["http_duration"],
                    workers=opts["http_workers"],
                    rounds=opts["http_rounds"] or min(b.rounds, 3),
                ),
            ),
        ):
            if not only or name in only:
                t0 = time.perf_counter()
                run()
                self.stdout.write(f"  measured {name} in {time.perf_counter() - t0:.1f} s")

        meta = {
            "size": opts["size"],
            "data": have,
            "rounds": b.rounds,
            "when": datetime.now(UTC).isoformat(),
            "machine": machine(),
            "seeding": seeding,
            "notes": b.notes,
            "seconds": round(time.perf_counter() - t_start, 1),
        }
        path = Path(opts["json"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": meta, "figures": b.results}, indent=2, default=str))
        self.stdout.write(table(b.results))
        if opts["markdown"]:
            Path(opts["markdown"]).write_text(markdown(b.results, meta))
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


def markdown(results: dict, meta: dict) -> str:
    """The table as the README shows it, with the date, the machine and the data."""
    m = meta["machine"]
    d = meta["data"]
    out = [
        f"Run {meta['when'][:16].replace('T', ' ')} UTC, size `{meta['size']}`, {meta['rounds']} rounds: "
        f"{d['patients']:,} patients, {d['encounters']:,} encounters, {d['appointments']:,} appointments, "
        f"{d['audit_events']:,} audit events. Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"PostgreSQL {m['postgres']} (shared_buffers {m['shared_buffers']}), Python {m['python']}.",
        "",
        "| figure | median | min | max | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in results.values():
        if "skipped" in r:
            out.append(f"| {r['label']} | — | | | | skipped: {r['skipped']} |")
            continue
        res = "" if "met" not in r else ("met" if r["met"] else "**missed**")
        errs = (r.get("detail") or {}).get("errors")
        if errs is not None:
            res = f"{res} ({errs} errors)".strip()
        out.append(
            f"| {r['label']} | {r['median']:g} {r['unit']} | {r['min']:g} | {r['max']:g} | {r.get('target', '')} "
            f"| {res} |"
        )
    return "\n".join(out) + "\n"
