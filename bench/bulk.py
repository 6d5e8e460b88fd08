"""Figure 7: the FHIR Bulk Data export rate (fhirapi/bulk.py `run`, the worker's part of `$export`).

The export of every patient the bench clinician may see (the care-team grants of the seed: 10% of the patients plus
the named ones -- about 200 at size ci, 10,000 at small, 100,000 at full), all the types the API serves, as a
system-level job of a client-credentials application of the clinician (its reach): the same steps the Celery worker takes (the door's visible patients, one
query per table per step of 200 patients, the resources as the API serves them, an export event per step, the NDJSON
files written through the `fhir_export` storage), run in this process so the figure is the machinery's rate and not
the broker's. Resources per second = every line written to the files / the run's seconds. The files and the job are
deleted after each round; the audit events stay (they are what the product records).
"""

from __future__ import annotations

import time

from .measure import spread

KEY = "fhir_bulk_export_resources_per_s"
LABEL = "FHIR bulk export rate"


APP_NAME = "bench bulk export"


def bench_client(user):
    """The backend service the figure exports as: a client-credentials application of `user` (a system/ token's
    client acts with its account's reach, as on the worker: patients.actors.actor_for_client)."""
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    app = Application.objects.filter(name=APP_NAME, user=user).first()
    if app is None:
        app = Application.objects.create(
            name=APP_NAME,
            user=user,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )
    return app


def export_round(app, types: list[str]) -> tuple[float, int, int, int]:
    """One system-level export by the client `app`: seconds, resources written, patients, files."""
    from fhirapi import bulk
    from fhirapi.models import ExportJob

    job = ExportJob.objects.create(
        level=ExportJob.Level.SYSTEM,
        actor=app.user,
        application=app,
        request_url="bench:$export",
        types=types,
        since=None,
    )
    try:
        t0 = time.perf_counter()
        status = bulk.run(str(job.pk))
        seconds = time.perf_counter() - t0
        job.refresh_from_db()
        if status != ExportJob.Status.DONE:
            raise RuntimeError(f"the export ended {status}: {job.error}")
        resources = sum(o["count"] for o in job.output)
        return seconds, resources, job.patients_total, len(job.output)
    finally:
        bulk.files_delete(job)
        job.delete()


def fig_bulk_export(b, *, rounds: int) -> None:
    from fhirapi.resources import REGISTRY

    types = sorted(REGISTRY)
    app = bench_client(b.clinician)
    try:
        export_round(app, types)  # warm-up: plans, caches
    except Exception as exc:  # report, measure the rest
        b.row(KEY, LABEL, None, "resources/s", skipped=f"export failed: {type(exc).__name__}: {exc}"[:300])
        return
    rates, secs, counts = [], [], []
    patients = files = 0
    for _ in range(max(1, rounds)):
        t, n, patients, files = export_round(app, types)
        rates.append(n / t if t else 0.0)
        secs.append(t)
        counts.append(n)
    b.row(
        KEY,
        LABEL,
        spread(rates, 0),
        "resources/s",
        detail={
            "patients": patients,
            "resources_per_round": counts[-1],
            "files": files,
            "types": len(types),
            "seconds": spread(secs, 2),
            "note": "fhirapi.bulk.run in process (the worker's part of $export), system level, client of bench.clinician",
        },
    )
