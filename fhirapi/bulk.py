"""FHIR Bulk Data export (`$export`, Bulk Data Access IG v2): kick-off, the worker's run, status, files, expiry.

Who: a backend service (client-credentials token with `system/` scopes). What: the patients its service account may
see through the one door (`patients.access.visible_patients`), each type only where it holds the type's permission
(VIEW_CLINICAL, VIEW_SCHEDULE for appointments), the same resources the API serves. A Group is a department
(`patients.Department`): Group/<id>/$export narrows to its patients. The worker writes one NDJSON file per type
through the `fhir_export` storage; only tokens of the client that started the job see its status and files; each
file download is an export event naming the patients; files are deleted at expiry (beat: bulk_export_expire).
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.access import visible_patients
from patients.actors import actor_for_client
from patients.models import Patient

from . import fidelity, mapping
from .models import ExportJob, KeptResource
from .selectors import KEPT_TYPES, changed_since, clinical_kinds

CHUNK = 200  # patients per step: a constant number of queries per step, whatever their history
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = {NDJSON, "application/ndjson", "ndjson"}


def export_storage():
    return storages["fhir_export"]


def file_name(job: ExportJob, resource_type: str) -> str:
    return f"{job.pk}/{resource_type}.ndjson"


def kick_off(
    *, actor, application, level: str, types: list[str], since, group, request_url: str
) -> ExportJob:
    """A queued job; the worker starts it once this transaction commits."""
    from .tasks import bulk_export_run

    job = ExportJob.objects.create(
        level=level,
        group=group,
        actor=actor,
        application=application,
        request_url=request_url,
        types=types,
        since=since,
    )
    transaction.on_commit(lambda: bulk_export_run.delay(str(job.pk)))
    return job


def _who(job: ExportJob):
    """The client acting as itself, as at kick-off (its binding to a patient or a group holds on the worker too)."""
    return actor_for_client(job.application, reads=True) if job.application_id else job.actor


def _patients(job: ExportJob):
    qs = visible_patients(_who(job), roles.VIEW_DEMOGRAPHICS)
    if job.level == ExportJob.Level.GROUP:
        qs = qs.filter(department_id=job.group_id) if job.group_id else qs.none()
    return qs.order_by("pk")


def _allowed(actor, perm: str, ids: list) -> set:
    return set(visible_patients(actor, perm).filter(pk__in=ids).values_list("pk", flat=True))


def chunk_resources(job: ExportJob, ids: list) -> list[dict]:
    """The resources of these patients the job includes, as the API serves them (queries: one per table)."""
    from .resources import row_resources

    wanted = set(job.types)
    pairs = []
    if "Patient" in wanted:
        patients = changed_since(Patient.objects.filter(pk__in=ids), job.since).order_by("pk")
        pairs += [(p, mapping.patient_to_fhir(p)) for p in patients]
    reach: dict[str, set] = {}
    for name, kind in clinical_kinds().items():
        if name not in wanted:
            continue
        if kind.perm not in reach:
            reach[kind.perm] = _allowed(_who(job), kind.perm, ids)
        allowed = reach[kind.perm]
        for src in kind.sources:
            rows = changed_since(src.rows().filter(patient_id__in=allowed), job.since).order_by(*src.order)
            pairs += [(row, res) for row in rows for res in row_resources(name, row)]
    # Resources of a modelled type kept as received (their values could not be used).
    clinical = reach.get(roles.VIEW_CLINICAL) or _allowed(_who(job), roles.VIEW_CLINICAL, ids)
    kept = KeptResource.objects.filter(patient_id__in=clinical, resource_type__in=wanted - set(KEPT_TYPES))
    pairs += [
        (k, fidelity.kept_to_fhir(k)) for k in changed_since(kept, job.since).order_by("received_at", "pk")
    ]
    return fidelity.serve(pairs)


def _cancelled(job: ExportJob) -> bool:
    return ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.CANCELLED).exists()


def run(job_id: str) -> str:
    """The worker's part: write the files, chunk by chunk, recording progress. Returns the job's final status."""
    started = timezone.now()
    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, transaction_time=started
    ):
        return "skipped"  # cancelled before it started, or already run (a redelivered message)
    job = ExportJob.objects.select_related("actor").get(pk=job_id)
    ids = list(_patients(job).values_list("pk", flat=True))
    ExportJob.objects.filter(pk=job.pk).update(patients_total=len(ids))
    files: dict[str, tempfile.SpooledTemporaryFile] = {}
    counts: dict[str, int] = defaultdict(int)
    try:
        for at in range(0, len(ids), CHUNK):
            if _cancelled(job):
                return ExportJob.Status.CANCELLED
            chunk = ids[at : at + CHUNK]
            for res in chunk_resources(job, chunk):
                rtype = res["resourceType"]
                if rtype not in files:  # closed in the finally below
                    files[rtype] = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")  # noqa: SIM115
                files[rtype].write(json.dumps(res, separators=(",", ":")).encode() + b"\n")
                counts[rtype] += 1
            access_record(
                actor=job.actor,
                action=Action.EXPORT,
                category=categories.EXPORT,
                patient_ids=chunk,
                channel="api",
                detail={"bulk_export": str(job.pk), "step": "prepared", "types": sorted(job.types)},
            )
            ExportJob.objects.filter(pk=job.pk).update(patients_done=at + len(chunk))
        return _finish(job, files, counts, ids)
    finally:
        for f in files.values():
            f.close()


def _finish(job: ExportJob, files: dict, counts: dict, ids: list) -> str:
    storage = export_storage()
    output = []
    for rtype in sorted(files):
        f = files[rtype]
        f.seek(0)
        name = file_name(job, rtype)
        if storage.exists(name):
            storage.delete(name)
        storage.save(name, File(f, name=name))
        output.append({"type": rtype, "file": name, "count": counts[rtype]})
    now = timezone.now()
    ttl = timedelta(seconds=settings.FHIR_EXPORT_EXPIRY_SECONDS)
    done = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
        status=ExportJob.Status.DONE,
        output=output,
        patient_ids=[str(i) for i in ids],
        finished_at=now,
        expires_at=now + ttl,
    )
    if not done:  # cancelled while the files were written
        files_delete(job, [o["file"] for o in output])
        return ExportJob.Status.CANCELLED
    return ExportJob.Status.DONE


def fail(job_id: str, message: str) -> None:
    ExportJob.objects.filter(
        pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]
    ).update(status=ExportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now())


def files_delete(job: ExportJob, names: list[str] | None = None) -> None:
    storage = export_storage()
    for name in names if names is not None else [o["file"] for o in job.output]:
        if storage.exists(name):
            storage.delete(name)


def cancel(job: ExportJob) -> None:
    """DELETE on the status URL: stop the job (the worker checks between steps) and delete what it wrote."""
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.CANCELLED, finished_at=timezone.now())
    files_delete(job)


def expire(now=None) -> int:
    """Delete the files of finished jobs past their expiry; the rows stay (the record of the disclosure)."""
    now = now or timezone.now()
    n = 0
    for job in ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now):
        files_delete(job)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED)
        n += 1
    return n


def manifest(job: ExportJob, *, base: str) -> dict:
    return {
        "transactionTime": job.transaction_time.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": o["type"],
                "url": f"{base}/$export-file/{job.pk}/{o['type']}.ndjson",
                "count": o["count"],
            }
            for o in job.output
        ],
        "error": [],
    }


def file_open(job: ExportJob, resource_type: str, *, request):
    """The NDJSON file of one type, recorded as an export (a disclosure) naming the job's patients."""
    entry = next((o for o in job.output if o["type"] == resource_type), None)
    if entry is None:
        return None
    storage = export_storage()
    if not storage.exists(entry["file"]):
        return None
    access_record(
        actor=job.actor,
        action=Action.EXPORT,
        category=categories.EXPORT,
        patient_ids=job.patient_ids,
        request=request,
        detail={
            "bulk_export": str(job.pk),
            "step": "downloaded",
            "file": resource_type,
            "count": entry["count"],
        },
    )
    return storage.open(entry["file"], "rb")
