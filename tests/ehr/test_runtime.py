"""The web workers freeze what they loaded at start-up, so the collector stops walking it on busy pages."""

import gc
import importlib

from ehr import runtime


def test_freeze_moves_the_loaded_objects_to_the_permanent_generation():
    try:
        frozen = runtime.freeze_startup_objects()
        assert frozen > 10_000  # Django and the apps: far more than a handful
        # still frozen (a frozen object freed since, e.g. by another thread of the test run, lowers the count by one)
        assert gc.get_freeze_count() > frozen - 1_000
        from django.urls import get_resolver

        assert "url_patterns" in get_resolver().__dict__  # the URLconf (every view module) was loaded first
    finally:
        gc.unfreeze()


def test_the_wsgi_entry_point_freezes(monkeypatch):
    import ehr.wsgi

    gc.unfreeze()  # what the first import froze in this test process
    calls = []
    monkeypatch.setattr(runtime, "freeze_startup_objects", lambda: calls.append(1) or 0)
    importlib.reload(ehr.wsgi)
    assert calls == [1] and callable(ehr.wsgi.application)
