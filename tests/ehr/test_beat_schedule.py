"""The Celery beat schedule lives in one place (ehr/settings.py) and names only tasks the worker knows."""

import ast
from pathlib import Path

from django.conf import settings

from ehr.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()  # what the worker does at start: autodiscover every app's tasks
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names an unknown task {entry['task']}"


def test_the_schedule_is_written_once_in_settings():
    """Nothing outside ehr/settings.py mentions CELERY_BEAT_SCHEDULE in code (an app's ready() once changed it at
    run time); the settings module assigns it once, whole."""
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "var", "tests", "docs"} or rel == Path("ehr/settings.py"):
            continue
        tree = ast.parse(path.read_text())
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "CELERY_BEAT_SCHEDULE" not in names, f"{rel} touches the beat schedule"
    tree = ast.parse((ROOT / "ehr" / "settings.py").read_text())
    writes = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign)
        and "CELERY_BEAT_SCHEDULE" in ast.unparse(n.targets[0] if isinstance(n, ast.Assign) else n.target)
    ]
    assert len(writes) == 1
