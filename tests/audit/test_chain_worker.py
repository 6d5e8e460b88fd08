"""The hash chain is built by the real Celery worker, off the request path: page views never queue on a lock."""

import threading
import time

import pytest
from django.db import connection

from audit import categories
from audit.models import AccessEvent, ChainLink
from audit.services import access_record, audit_verify
from audit.tasks import audit_link_chain
from tests.conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_links_queued_events(celery_worker_proc, clinician, patient):
    events = [
        access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
        for _ in range(10)
    ]
    audit_link_chain.delay()
    wait_until(lambda: ChainLink.objects.filter(event_id__in=[e.pk for e in events]).count() == 10)
    assert audit_verify(link_first=False).ok


def test_concurrent_page_views_do_not_serialize_and_are_all_linked(celery_worker_proc, clinician, patient):
    threads, per_thread = 8, 50
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def page_views():
        try:
            start.wait()
            for _ in range(per_thread):
                access_record(
                    actor=clinician, action="view", category=categories.CHART_SUMMARY, patient_id=patient.pk
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    # While the threads write, the linker runs too: writers must never wait for it.
    audit_link_chain.delay()
    t0 = time.monotonic()
    workers = [threading.Thread(target=page_views) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    elapsed = time.monotonic() - t0
    assert not errors, errors
    assert not any(w.is_alive() for w in workers)
    total = threads * per_thread
    assert AccessEvent.objects.filter(category=categories.CHART_SUMMARY).count() == total
    assert elapsed < 30, f"{total} inserts took {elapsed:.1f}s"

    def all_linked():
        missing = AccessEvent.objects.exclude(id__in=ChainLink.objects.values("event_id")).count()
        if missing:
            audit_link_chain.delay()  # beat does this every 2 s in production
        return missing == 0

    wait_until(all_linked, timeout=30, interval=0.5)
    seqs = list(ChainLink.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # contiguous, no gaps, no duplicates
    assert len(seqs) == AccessEvent.objects.count()
    assert audit_verify(link_first=False).ok
