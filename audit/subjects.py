"""Whom an audit event names: the subject registry.

The audit app stands below patients (pyproject.toml, `[tool.importlinter]`): it never imports them. The app that
owns the records events name registers its model here from its `AppConfig.ready()` (patients/apps.py); the privacy
officer's reports (audit/selectors.py) and the write signal (audit/signals.py) read it through `subject_model()`.

The registered model has the columns the reports show and follow, and nothing more is read: `mrn`, `given_name`,
`family_name` (the MRN and the name, see audit/selectors.py's docstring) and `merged_into` (a merged duplicate's
history belongs to the survivor's investigation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.core.exceptions import ImproperlyConfigured
from django.db import models

_subject: type[models.Model] | None = None
# find(name=..., birth_date=...) -> [{"id", "mrn", "given_name", "family_name", "birth_date"}, ...]: the owning
# app's look-up of patients by name and date of birth (it knows how names are normalised and indexed).
_finder: Callable[..., list[dict]] | None = None
# Role group name -> its label ("front_desk" -> "Front desk"), for the reports' "role" column.
_role_labels: dict[str, str] = {}


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


def subject_finder_register(find: Callable[..., list[dict]]) -> None:
    """The owning app's look-up by name and date of birth (patients/apps.py registers it)."""
    global _finder
    _finder = find


def subject_find(*, name: str, birth_date: date) -> list[dict]:
    """The subjects with this name and date of birth: id, MRN, name and date of birth only."""
    if _finder is None:
        raise ImproperlyConfigured("no audit subject finder registered (patients/apps.py registers it)")
    return _finder(name=name, birth_date=birth_date)


def role_labels_register(labels: dict[str, str]) -> None:
    """Role group names and their labels (the reports show a person's role)."""
    _role_labels.clear()
    _role_labels.update(labels)


def role_labels() -> dict[str, str]:
    return dict(_role_labels)
