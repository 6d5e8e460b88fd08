"""The one door, enforced on the source: outside selectors.py and services.py (and migrations, demo and
management commands, which run as the system), nothing touches the manager of Patient or of a model linked to it.
"""

import re
from pathlib import Path

from django.apps import apps

from patients.models import Patient

ROOT = Path(__file__).resolve().parent.parent
CHECKED_MODULES = ("views.py", "forms.py", "tasks.py", "admin.py", "urls.py", "api.py")
CHECKED_PACKAGES = ("templatetags", "views")


def patient_linked_models() -> set[str]:
    names = {"Patient"}
    for model in apps.get_models():
        for f in model._meta.get_fields():
            if getattr(f, "many_to_one", False) and f.related_model is Patient:
                names.add(model.__name__)
    return names


def checked_files():
    for app in ("accounts", "patients", "audit", "encounters", "prescriptions", "fhirapi", "ehr"):
        base = ROOT / app
        for name in CHECKED_MODULES:
            if (base / name).exists():
                yield base / name
        for pkg in CHECKED_PACKAGES:
            if (base / pkg).is_dir():
                yield from (base / pkg).rglob("*.py")


def test_no_patient_data_manager_outside_selectors_and_services():
    linked = patient_linked_models()
    assert {"Patient", "CareTeamMember", "BreakGlassGrant"} <= linked
    pattern = re.compile(r"\b(" + "|".join(sorted(linked)) + r")\.(objects|_default_manager|_base_manager)\b")
    offenders = []
    for path in checked_files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, "patient data read outside selectors/services:\n" + "\n".join(offenders)
