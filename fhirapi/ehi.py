"""Single-patient electronic health information export (ONC 170.315(b)(10)).

One zip per patient: a FHIR R4 NDJSON file per resource type (the same resources the API serves), a human-readable
summary (summary.html, opens in any browser, no network), a manifest, and a README pointing at the published format
(templates/fhirapi/ehi_format.html, served at /export/ehi-format/ without sign-in, as the criterion requires).
"""

from __future__ import annotations

import io
import json
import zipfile

from django.template.loader import render_to_string
from django.utils import timezone

from audit import categories

from . import selectors
from .resources import served_everything

FORMAT_VERSION = "1"


def ehi_export_build(*, actor, patient_id, request=None) -> tuple[object, bytes]:
    """(patient, zip bytes). Who: users with clinical access to the patient (the export must be complete).
    Records one export event (through patient_everything)."""
    patient, found = selectors.patient_everything(
        actor=actor, patient_id=patient_id, request=request, need_clinical=True, category=categories.EXPORT
    )
    resources = served_everything(patient=patient, found=found, with_identifiers=True)
    found_all = found
    generated = timezone.now()
    manifest = {
        "format": "openehr-clinic EHI export",
        "formatVersion": FORMAT_VERSION,
        "fhirVersion": "4.0.1",
        "generatedAt": generated.isoformat(),
        "patient": str(patient.pk),
        "mrn": patient.mrn,
        "files": {f"{name}.ndjson": len(items) for name, items in resources.items()},
        "humanReadable": "summary.html",
        "documentation": "README.txt",
    }

    def of(name: str, model_name: str) -> list:
        return [r for r in found.get(name, []) if r._meta.model_name == model_name]

    found = {
        name: [r for r in rows if r._meta.model_name != "keptresource"] for name, rows in found_all.items()
    }
    summary = render_to_string(
        "fhirapi/ehi_summary.html",
        {
            "patient": patient,
            "found": found,
            "generated": generated,
            "counts": manifest["files"],
            "vitals": of("Observation", "vitalsigns"),
            "results": of("Observation", "observation"),
            "prescriptions": of("MedicationRequest", "prescription"),
            "imported_orders": of("MedicationRequest", "medicationstatement"),
            "kept": _kept_lines(found_all),
        },
    )
    readme = render_to_string("fhirapi/ehi_readme.txt", {"manifest": manifest})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, items in resources.items():
            z.writestr(f"{name}.ndjson", "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in items))
        z.writestr("summary.html", summary)
        z.writestr("manifest.json", json.dumps(manifest, indent=2))
        z.writestr("README.txt", readme)
    return patient, buf.getvalue()


def _when(r: dict) -> str:
    for key in WHEN:
        value = r.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        if isinstance(value, str):
            return value[:16]
    return ""


def _what(r: dict) -> str:
    concept = r.get("code") or r.get("type")
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return r.get("name") if isinstance(r.get("name"), str) else ""
    return concept.get("text") or next((c.get("display", "") for c in concept.get("coding") or []), "")


def _kept_lines(found: dict) -> list[tuple[str, str, str]]:
    """(type, when, what) for the resources kept as received, for people to read in summary.html."""
    return sorted(
        (name, _when(row.resource), _what(row.resource))
        for name, rows in found.items()
        for row in rows
        if row._meta.model_name == "keptresource"
    )


WHEN = (
    "performedDateTime",
    "performedPeriod",
    "effectiveDateTime",
    "effectivePeriod",
    "period",
    "created",
    "date",
)
