"""The one door, enforced on the source: outside selectors.py and services.py, no module of any project app touches
the manager of Patient or of a model linked to it (directly or through another linked model).

Checked in every app: views, forms, admin, tasks, urls, api, templatetags and management commands (modules or
packages of those names). Found by parsing, not by pattern-matching names of a few modules:
- `Model.objects` / `._default_manager` / `._base_manager` on a patient-linked model (also `models.Model.objects`);
- `get_object_or_404(Model, ...)` / `get_list_or_404(Model, ...)` on one;
- a related manager that reaches patient data: `something.<accessor>.<manager method>(...)`, where the accessor is
  the reverse name of a relation into a patient-linked model (`patient.care_team.all()`, `encounter.notes.filter()`).
"""

import ast
from pathlib import Path

from django.apps import apps

from patients.models import Patient

ROOT = Path(__file__).resolve().parent.parent
CHECKED = {"views", "forms", "admin", "tasks", "urls", "api", "templatetags", "commands"}
EXEMPT = {"selectors", "services", "migrations"}
MANAGER_ATTRS = {"objects", "_default_manager", "_base_manager"}
MANAGER_METHODS = {
    "all",
    "filter",
    "exclude",
    "get",
    "create",
    "count",
    "exists",
    "order_by",
    "values",
    "values_list",
    "select_related",
    "prefetch_related",
    "update",
    "delete",
    "first",
    "last",
    "aggregate",
    "annotate",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
    "iterator",
    "in_bulk",
    "only",
    "defer",
    "none",
    "latest",
    "earliest",
    "add",
    "remove",
    "set",
    "clear",
    "distinct",
    "union",
}


def patient_linked_models() -> set[type]:
    linked: set[type] = {Patient}
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in linked:
                continue
            if any(
                f.is_relation and (f.many_to_one or f.one_to_one) and f.related_model in linked
                for f in model._meta.concrete_fields
            ):
                linked.add(model)
                changed = True
    return linked


def related_accessors(linked: set[type]) -> set[str]:
    """Reverse accessor names that lead from any model into a patient-linked one (hidden relations have none)."""
    names = set()
    for model in apps.get_models():
        for rel in model._meta.related_objects:
            if rel.related_model in linked and not rel.hidden:
                names.add(rel.get_accessor_name())
        for f in model._meta.many_to_many:
            if f.related_model in linked:
                names.add(f.name)
    return names


def project_apps() -> list[Path]:
    return sorted({Path(c.path) for c in apps.get_app_configs() if Path(c.path).is_relative_to(ROOT)})


def checked_files():
    for base in project_apps():
        for path in base.rglob("*.py"):
            parts = set(path.relative_to(base).with_suffix("").parts)
            if parts & EXEMPT or not parts & CHECKED:
                continue
            yield path


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def offences(source: str, models: set[str], accessors: set[str]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in MANAGER_ATTRS and _name(node.value) in models:
            found.append((node.lineno, f"{_name(node.value)}.{node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and _name(node.func) in ("get_object_or_404", "get_list_or_404")
            and node.args
            and _name(node.args[0]) in models
        ):
            found.append((node.lineno, f"{_name(node.func)}({_name(node.args[0])}, ...)"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MANAGER_METHODS
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr in accessors
            and node.func.value.attr not in MANAGER_ATTRS
        ):
            found.append((node.lineno, f".{node.func.value.attr}.{node.func.attr}(...)"))
    return found


def test_the_checker_catches_every_kind_of_access():
    models = {m.__name__ for m in patient_linked_models()}
    accessors = related_accessors(patient_linked_models())
    assert {
        "Patient",
        "CareTeamMember",
        "BreakGlassGrant",
        "Note",
        "Addendum",
    } <= models  # Addendum: hidden FK
    assert {"care_team", "notes", "addenda"} <= accessors
    sample = """
from django.shortcuts import get_object_or_404
from patients import models
p = Patient.objects.get(pk=1)
q = models.Patient._base_manager.all()
n = get_object_or_404(Note, pk=1)
team = p.care_team.all()
more = encounter.notes.filter(status="draft")
fine = request.user.groups.all()
"""
    lines = sorted(ln for ln, _ in offences(sample, models, accessors))
    assert lines == [4, 5, 6, 7, 8]


def test_no_patient_data_manager_outside_selectors_and_services():
    linked = patient_linked_models()
    models, accessors = {m.__name__ for m in linked}, related_accessors(linked)
    files = list(checked_files())
    assert any(p.match("*/management/commands/*.py") for p in files)  # commands are checked too
    found = []
    for path in files:
        for lineno, what in offences(path.read_text(), models, accessors):
            found.append(f"{path.relative_to(ROOT)}:{lineno}: {what}")
    assert not found, "patient data read or written outside selectors/services:\n" + "\n".join(sorted(found))
