"""manage.py seed --size {ci,small,full} | --patients N --encounters N --appointments N --audit-events N
[--only ...]

Fast synthetic data for the benchmark (bench/seeders): PostgreSQL COPY in chunks. See docs/benchmark.md.
Refuses to run on a database that holds real patients unless --force: seeding is for bench and test databases.
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from bench import seeders, sizes


class Command(BaseCommand):
    help = "Load synthetic patients, clinical records, appointments and audit events with COPY (for the benchmark)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--size", choices=sorted(sizes.SIZES), help="ci (seconds), small, full (1M patients)"
        )
        for key in sizes.COUNT_KEYS:
            parser.add_argument(f"--{key.replace('_', '-')}", type=int, dest=key)
        parser.add_argument(
            "--only", nargs="*", choices=[s.name for s in seeders.SEEDERS], help="run only these seeders"
        )
        parser.add_argument(
            "--link",
            action="store_true",
            help="also link events queued by earlier bench runs (seeded events are linked as they are loaded)",
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed (data is reproducible)")
        parser.add_argument("--force", action="store_true", help="seed even if non-bench patients exist")

    def handle(self, *args, **opts):
        counts = dict(sizes.SIZES[opts["size"]]) if opts["size"] else dict.fromkeys(sizes.COUNT_KEYS, 0)
        for key in sizes.COUNT_KEYS:
            if opts[key] is not None:
                counts[key] = opts[key]
        if not opts["force"] and seeders.foreign_patients_exist():
            raise CommandError(
                "this database holds patients outside the bench department; "
                "seed a bench database (python3 dev.py bench) or pass --force"
            )
        self.stdout.write(f"seeding {json.dumps(counts)}")
        t0 = time.perf_counter()
        ctx = seeders.seed_run(counts=counts, seed=opts["seed"], out=self.stdout.write, only=opts["only"])
        if opts["link"]:
            t1 = time.perf_counter()
            n = seeders.audit_link(out=self.stdout.write)
            ctx.timings["link"] = {"rows": n, "seconds": round(time.perf_counter() - t1, 2)}
        for table, rows in sorted(ctx.tables.items()):
            self.stdout.write(f"  {table:<40} {rows:>12,}")
        self.stdout.write(f"seeded in {time.perf_counter() - t0:.1f} s")
