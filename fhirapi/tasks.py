"""Celery tasks of the FHIR API: the Bulk Data export's run and the expiry of its files (fhirapi/bulk.py)."""

from celery import shared_task

from . import bulk


@shared_task(acks_late=True)
def bulk_export_run(job_id: str) -> str:
    try:
        return bulk.run(job_id)
    except Exception as exc:
        bulk.fail(job_id, f"The export failed: {type(exc).__name__}")
        raise


@shared_task(acks_late=True)
def bulk_export_expire() -> int:
    return bulk.expire()
