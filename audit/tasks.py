"""Thin Celery tasks for the audit trail (scheduled by CELERY_BEAT_SCHEDULE in ehr/settings.py)."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def audit_link_chain() -> int:
    """Link committed events into the hash chain. Safe to run concurrently: one linker holds the advisory lock,
    others return 0 at once."""
    return services.audit_link_chain()


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def audit_ensure_partitions() -> list[str]:
    """Create next months' partitions ahead of time (idempotent)."""
    return services.audit_ensure_partitions()
