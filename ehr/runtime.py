"""Process-level tuning for the web server's workers.

`freeze_startup_objects` moves everything loaded at start-up (Django, the apps, the URLconf and the views it
imports) into the collector's permanent generation (`gc.freeze`, Python >= 3.7). Those few hundred thousand
long-lived objects are then never traversed again: a page that builds hundreds of model instances (a clinic's day
list) triggers collections, and a full one walked the whole heap, which made the day list's 95th percentile twice
its median (docs/benchmark.md). Called by ehr/wsgi.py in every gunicorn worker, and by the benchmark before it
measures in-process pages, so both see what production runs.
"""

import gc


def freeze_startup_objects() -> int:
    """Load the URLconf (and with it every view module), collect once, freeze. Returns the frozen object count."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the views now rather than on the first request
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
