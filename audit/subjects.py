"""Whom an audit event names: the subject registry.

The audit app stands below patients (pyproject.toml, `[tool.importlinter]`): it never imports them. The app that
owns the records events name registers its model here from its `AppConfig.ready()` (patients/apps.py); the privacy
officer's reports (audit/selectors.py) and the write signal (audit/signals.py) read it through `subject_model()`.

The registered model has the columns the reports show and follow, and nothing more is read: `mrn`, `given_name`,
`family_name` (the MRN and the name, see audit/selectors.py's docstring) and `merged_into` (a merged duplicate's
history belongs to the survivor's investigation).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db import models

_subject: type[models.Model] | None = None


def subject_register(model: type[models.Model]) -> None:
    """Name the model whose rows audit events name (called once, from the owning app's ready())."""
    global _subject
    if _subject is not None and _subject is not model:
        raise ImproperlyConfigured(f"audit subject already registered: {_subject._meta.label}")
    _subject = model


def subject_model() -> type[models.Model]:
    """The registered subject model (patients.Patient in this project)."""
    if _subject is None:
        raise ImproperlyConfigured("no audit subject model registered (patients/apps.py registers Patient)")
    return _subject
