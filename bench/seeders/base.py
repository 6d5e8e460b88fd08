"""Synthetic data at clinic-network scale, loaded with PostgreSQL COPY.

Seeders register themselves in order; `seed_run` calls each with a shared SeedContext. Each writes one main table
with a pipelined COPY and, in the same pass, the rows that hang off it into spools (bench/copy.py) loaded right
after: a patient's problems, allergies and immunizations; an encounter's note, vitals, results and prescription
(with its timeline and medication-list row). Every column the seeder does not name gets the model's default
(bench.copy.Table), so a new column with a default does not break the seed; a new required one stops it with
its name.

Why COPY and not the ORM: one million patients through `save()` take hours; COPY takes seconds per 100k rows.
What COPY skips (and the product's code would do): django-auditlog entries and access events for the seeded
writes, outbox rows (the NCPDP XML) of seeded prescriptions, and field encryption for most patients
(ENCRYPTED_FRACTION, see below). The audit hash chain is built here, with the product's own hash functions.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import connection

BENCH_CLINICIAN = "bench.clinician"
BENCH_PRIVACY = "bench.privacy"
BENCH_FRONT_DESK = "bench.frontdesk"
BENCH_DEPARTMENT = "Bench network"
BENCH_LOCATION = "Bench network clinic"
BENCH_FAMILY = "Benchmark"
# The bench clinician signs prescriptions in figure 6 (signing asks for the password again).
BENCH_PASSWORD = "bench-password-2026"  # noqa: S105 (a bench database's synthetic user)
# given name of a named benchmark patient -> encounters it gets
BENCH_PATIENTS = {"Solo": 0, "Ten": 10, "Hundred": 100, "Thousand": 1000}
# share of all audit events that name the "Thousand" patient: the per-patient report's busy chart
HOT_PATIENT_EVENT_SHARE = 0.0005
SEEDED_TABLES: list[str] = []  # filled as seeders load tables; VACUUM ANALYZE at the end


@dataclass
class SeedContext:
    counts: dict[str, int]
    rng: random.Random
    out: Callable[[str], None]
    clinician: object | None = None
    privacy: object | None = None
    front_desk: object | None = None
    providers: list = field(default_factory=list)
    department_id: int | None = None
    patient_ids: list[str] = field(default_factory=list)  # every patient seeded in this run
    granted_ids: list[str] = field(default_factory=list)  # those on the bench clinician's care team
    bench_ids: dict[str, str] = field(
        default_factory=dict
    )  # given name -> id of the named benchmark patients
    ref: SimpleNamespace | None = None  # reference data the generators draw from (seed_reference)
    timings: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows written in this run
    notes: list[str] = field(default_factory=list)

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        self.out(f"  note: {msg}")

    def loaded(self, table: str, rows: int) -> int:
        self.tables[table] = self.tables.get(table, 0) + rows
        if rows and table not in SEEDED_TABLES:
            SEEDED_TABLES.append(table)
        return rows


@dataclass
class Seeder:
    name: str
    order: int
    fn: Callable[[SeedContext], int]


SEEDERS: list[Seeder] = []


def register(*, name: str, order: int):
    """Decorator: fn(ctx) -> number of rows written."""

    def deco(fn):
        if all(s.name != name for s in SEEDERS):
            SEEDERS.append(Seeder(name, order, fn))
            SEEDERS.sort(key=lambda s: s.order)
        return fn

    return deco


def is_superuser() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cur.fetchone()
    return bool(row and row[0])


def seed_run(
    *, counts: dict[str, int], seed: int = 2026, out=print, only: list[str] | None = None
) -> SeedContext:
    from patients import chartversion

    ctx = SeedContext(counts=counts, rng=random.Random(seed), out=out)
    with connection.cursor() as cur:
        # A bulk load: losing the last few hundred milliseconds on a crash is fine, waiting for fsync is not.
        cur.execute("SET synchronous_commit = off")
        # The chart-version triggers would bump each patient once per COPY chunk of every clinical table (millions
        # of updates of patients_patient); the seed bumps every version once at the end instead
        # (patients/chartversion.py).
        cur.execute("SET ehr.chart_version_bump = 'off'")
    SEEDED_TABLES.clear()
    try:
        for s in SEEDERS:
            if only and s.name not in only and s.name not in ("staff", "reference"):
                continue
            t0 = time.perf_counter()
            before = dict(ctx.tables)
            n = s.fn(ctx)
            dt = time.perf_counter() - t0
            ctx.timings[s.name] = {
                "rows": n,
                "seconds": round(dt, 2),
                "rows_per_s": round(n / dt) if dt and n else 0,
                "tables": {t: r - before.get(t, 0) for t, r in ctx.tables.items() if r != before.get(t, 0)},
            }
            out(
                f"  {s.name:<12} {n:>12,} rows  {dt:8.1f} s"
                + (f"  ({n / dt:,.0f} rows/s)" if n and dt else "")
            )
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET ehr.chart_version_bump")
            cur.execute(
                "SELECT DISTINCT event_object_table FROM information_schema.triggers "
                "WHERE action_statement LIKE '%%patient_chart_version_bump%%'"
            )
            charted = {r[0] for r in cur.fetchall()}
            if charted & set(SEEDED_TABLES):
                t0 = time.perf_counter()
                cur.execute(chartversion.BULK_BUMP_SQL)
                ctx.timings["chart_version"] = {"seconds": round(time.perf_counter() - t0, 2)}
                out(f"  {'versions':<12} {cur.rowcount:>12,} rows  {time.perf_counter() - t0:8.1f} s")
    # VACUUM sets the visibility map (index-only scans) and hint bits, as autovacuum would have on a live system;
    # ANALYZE gives the planner statistics at once.
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        for table in SEEDED_TABLES:
            cur.execute(f"VACUUM (ANALYZE) {table}")
    ctx.timings["vacuum_analyze"] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "tables": len(SEEDED_TABLES),
    }
    out(f"  {'vacuum':<12} {len(SEEDED_TABLES):>7} tables  {time.perf_counter() - t0:8.1f} s")
    return ctx


def foreign_patients_exist() -> bool:
    """Whether the database holds patients outside the bench department (a real or a demo database).

    Patients created by the FHIR import figure (department NULL, source "bench-fhir-...") count as bench data."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM patients_patient p LEFT JOIN patients_department d "
            "ON d.id = p.department_id WHERE d.name IS DISTINCT FROM %s AND NOT EXISTS ("
            "SELECT 1 FROM fhirapi_importedrecord r WHERE r.patient_id = p.id AND r.source LIKE 'bench-fhir-%%'))",
            [BENCH_DEPARTMENT],
        )
        return cur.fetchone()[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
