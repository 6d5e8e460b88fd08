"""A clinician downloads a patient's whole record (EHI export) from the chart in a real browser; an imported chart
shows its immunizations and results."""

import json
import zipfile
from pathlib import Path

import pytest

from fhirapi.services import bundle_import, import_account
from tests.conftest import browser_login, screenshot

pytestmark = pytest.mark.browser
SYNTHEA = Path(__file__).resolve().parents[2] / "data" / "fhir" / "synthea"


def test_imported_chart_and_its_export(transactional_db, page, clinician, department, tmp_path):
    bundle = json.loads(next(SYNTHEA.glob("Kermit*.json")).read_text())
    [pid] = bundle_import(
        actor=import_account(), bundle=bundle, source="synthea", department=department, care_team=[clinician]
    ).patient_ids
    browser_login(page, clinician)
    page.goto(f"/patients/{pid}/")
    page.wait_for_selector("[data-testid=ehi-export]")
    screenshot(page, "chart-imported")
    assert "Influenza" in page.content()  # the imported immunizations are on the chart

    with page.expect_download() as dl:
        page.click("[data-testid=ehi-export]")
    path = tmp_path / "ehi.zip"
    dl.value.save_as(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {
            "summary.html",
            "manifest.json",
            "Patient.ndjson",
            "Encounter.ndjson",
            "Immunization.ndjson",
            "Observation.ndjson",
        } <= names
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["patient"] == str(pid)
        page.set_content(z.read("summary.html").decode())
    screenshot(page, "ehi-summary")
    assert page.locator("h2", has_text="Immunizations").count() == 1
