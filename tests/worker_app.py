"""The Celery app as the test workers run it: the product's app plus one test-only hook.

Transactional tests flush the database between tests, and Django then recreates the content types with new ids.
A worker process lives for the whole session and would keep the old ids in ContentType's cache (django-auditlog
writes them into every log entry), so the cache is cleared before each task. Production never flushes.
"""

from celery.signals import task_prerun

from ehr.celery import app

__all__ = ["app"]


@task_prerun.connect
def _fresh_content_types(**_):
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
