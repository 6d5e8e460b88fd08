"""The demo clinic's imported charts: the Synthea FHIR bundles shipped in data/fhir/synthea, imported the way a clinic
moving in would (`manage.py import_fhir`), so the run command shows imported history, immunizations and results."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from .services import bundle_import, import_account

SYNTHEA = Path(settings.BASE_DIR) / "data" / "fhir" / "synthea"


def demo_import_synthea(*, department, care_team) -> int:
    """Import every shipped bundle into `department` with `care_team`; returns the number of patients."""
    actor = import_account()
    count = 0
    for path in sorted(SYNTHEA.glob("*.json")):
        result = bundle_import(
            actor=actor,
            bundle=json.loads(path.read_text()),
            source="synthea",
            department=department,
            care_team=care_team,
            label=path.name,
        )
        count += len(result.patient_ids)
    return count
