"""Synthetic data at clinic-network scale, loaded with PostgreSQL COPY (the seeders, one module per concept).

base.py holds the run (`seed_run`, the SeedContext every seeder shares, the registry); each other module registers
its seeders in order: staff (10), reference data (15), patients and their charts (20) with care-team grants (30),
encounters and what hangs off them (40), appointments (45), audit events and their hash chain (50).
Importing this package registers them all.
"""

from . import appointments, charts, reference, staff, trail, visits  # noqa: F401 (each registers its seeders)
from .base import (
    BENCH_CLINICIAN,
    BENCH_DEPARTMENT,
    BENCH_FAMILY,
    BENCH_FRONT_DESK,
    BENCH_LOCATION,
    BENCH_PASSWORD,
    BENCH_PATIENTS,
    BENCH_PRIVACY,
    SEEDERS,
    SeedContext,
    foreign_patients_exist,
    seed_run,
)
from .trail import audit_link

__all__ = [
    "BENCH_CLINICIAN",
    "BENCH_DEPARTMENT",
    "BENCH_FAMILY",
    "BENCH_FRONT_DESK",
    "BENCH_LOCATION",
    "BENCH_PASSWORD",
    "BENCH_PATIENTS",
    "BENCH_PRIVACY",
    "SEEDERS",
    "SeedContext",
    "audit_link",
    "foreign_patients_exist",
    "seed_run",
]
