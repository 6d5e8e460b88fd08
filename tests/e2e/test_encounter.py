"""A clinician's encounter in a real browser: vitals, a SOAP note, signing, an addendum; the signed text can no
longer be changed, neither in the page nor by a hand-made POST."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from encounters import services
from encounters.models import Encounter, Icd10Code, Note
from tests.conftest import browser_login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def history(db, clinician, patient):
    """A chart with some past: problems, allergies, medications and blood pressures over the last months."""
    Icd10Code.objects.bulk_create(
        [
            Icd10Code(code="I10", description="Essential (primary) hypertension"),
            Icd10Code(code="E11.9", description="Type 2 diabetes mellitus without complications"),
        ]
    )
    services.problem_add(
        actor=clinician,
        patient_id=patient.pk,
        code="I10",
        onset_date=timezone.localdate() - timedelta(days=800),
    )
    services.problem_add(actor=clinician, patient_id=patient.pk, code="E11.9")
    services.allergy_record(
        actor=clinician,
        patient_id=patient.pk,
        substance_text="Penicillin",
        category="medication",
        criticality="high",
        reaction="Hives",
    )
    services.medication_record(
        actor=clinician,
        patient_id=patient.pk,
        name="Lisinopril 10 MG Oral Tablet",
        dose_text="1 tablet daily",
    )
    services.medication_record(
        actor=clinician,
        patient_id=patient.pk,
        name="Metformin 500 MG Oral Tablet",
        dose_text="1 tablet twice daily",
    )
    now = timezone.now()
    for i, (sbp, dbp) in enumerate([(152, 96), (148, 94), (141, 90), (138, 88), (134, 84)]):
        old = services.encounter_start(actor=clinician, patient_id=patient.pk, reason="Hypertension review")
        Encounter.objects.filter(pk=old.pk).update(
            start=now - timedelta(days=30 * (5 - i)), status="finished"
        )
        services.vitals_record(
            actor=clinician,
            patient_id=patient.pk,
            encounter_id=old.pk,
            values={"systolic": sbp, "diastolic": dbp, "heart_rate": 72 + i},
            taken_at=now - timedelta(days=30 * (5 - i)),
        )


def test_clinician_documents_signs_and_adds_addendum(page, clinician, patient, history):
    browser_login(page, clinician)
    page.on("dialog", lambda d: d.accept())  # "Sign the note? It cannot be changed afterwards" -> yes

    # Start an encounter from the timeline.
    page.goto(reverse("encounters:timeline", args=[patient.pk]))
    page.select_option("main select[name=encounter_type]", "office")
    page.fill("main input[name=reason]", "Hypertension follow-up")
    page.click("main button:has-text('Start encounter')")
    page.wait_for_url("**/schedule/encounters/*/")
    expect(page.locator("[data-testid=patient-banner]")).to_contain_text(patient.mrn)
    expect(page.locator("[data-testid=allergy-badge]")).to_contain_text("Penicillin")

    # Vitals: a high blood pressure is flagged.
    page.fill("#id_systolic", "146")
    page.fill("#id_diastolic", "92")
    page.fill("#id_heart_rate", "78")
    page.fill("#id_temperature", "36.8")
    page.fill("#id_weight", "82.5")
    page.fill("#id_height", "176")
    page.fill("#id_spo2", "97")
    page.click("[data-testid=vitals-form] button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Vital signs recorded.")
    expect(page.locator("[data-testid=vital-flag]").first).to_have_text("high")

    # A SOAP note: draft, then signed.
    page.click("main button:has-text('New SOAP note')")
    note_form = page.locator("[data-testid=note] form").first
    note_form.locator("textarea[name$=subjective]").fill(
        "Home readings 140s/90s. No headache, no chest pain."
    )
    note_form.locator("textarea[name$=objective]").fill("BP 146/92, HR 78. Heart sounds normal. No oedema.")
    note_form.locator("textarea[name$=assessment]").fill("Essential hypertension, not at goal.")
    note_form.locator("textarea[name$=plan]").fill("Increase lisinopril to 20 mg daily. Recheck in 4 weeks.")
    note_form.locator("button[name=save]").click()
    expect(page.locator(".messages")).to_contain_text("Draft saved.")
    screenshot(page, "encounter_vitals_note")

    page.locator("[data-testid=note] button[name=sign]").click()
    expect(page.locator(".messages")).to_contain_text("Note signed.")
    signed = page.locator("[data-testid=signed-note]")
    expect(signed).to_contain_text("Increase lisinopril to 20 mg daily.")
    note = Note.objects.get(encounter__reason="Hypertension follow-up")
    assert note.signed and len(note.content_hash) == 64

    # An addendum below the signed text.
    page.fill("#id_text", "Potassium and creatinine ordered for the dose change.")
    page.click("main button:has-text('Add addendum')")
    expect(page.locator(".messages")).to_contain_text("Addendum added.")
    expect(page.locator("[data-testid=addendum]")).to_contain_text("Potassium and creatinine ordered")
    screenshot(page, "encounter_signed_addendum")

    # The signed text is no longer editable: no note textarea, only the addendum and amendment boxes.
    assert page.locator("textarea[name$=subjective], textarea[name$=plan]").count() == 0
    expect(signed).not_to_have_attribute("contenteditable", "true")

    # A hand-made POST to note_save (as a stale tab would send) is refused with a clear message; nothing changes.
    before = Note.objects.values("subjective", "plan", "version", "content_hash").get(pk=note.pk)
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    prefix = str(note.pk)[:8] + "-"
    resp = page.request.post(
        reverse("encounters:note_save", args=[note.pk]),
        form={
            "csrfmiddlewaretoken": token,
            prefix + "subjective": "Rewritten history",
            prefix + "plan": "x",
            prefix + "version": str(before["version"]),
        },
    )
    assert resp.ok  # followed the redirect back to the encounter
    assert "it can no longer be edited" in resp.text()
    htmx = page.request.post(
        reverse("encounters:note_save", args=[note.pk]),
        form={
            "csrfmiddlewaretoken": token,
            prefix + "subjective": "Rewritten again",
            prefix + "version": str(before["version"]),
        },
        headers={"HX-Request": "true"},
    )
    assert htmx.status == 409 and "it can no longer be edited" in htmx.text()
    assert Note.objects.values("subjective", "plan", "version", "content_hash").get(pk=note.pk) == before
    page.reload()
    expect(signed).not_to_contain_text("Rewritten")

    # The banner stays on screen while the clinician scrolls a long page.
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(200)
    box = page.locator("[data-testid=patient-banner]").bounding_box()
    top = page.locator(".topbar").bounding_box()
    assert box is not None and top is not None and box["y"] >= top["y"] + top["height"] - 1

    # The trend and the chart summary.
    page.goto(reverse("encounters:vitals_trend", args=[patient.pk]))
    expect(page.locator("[data-testid=trend] circle")).to_have_count(6)
    screenshot(page, "vitals_trend")
    page.goto(reverse("patients:detail", args=[patient.pk]))
    main = page.locator("main")
    for text in (
        "Recent encounters",
        "Hypertension follow-up",
        "Essential (primary) hypertension",
        "Penicillin",
        "Lisinopril",
        "Latest vitals",
    ):
        expect(main).to_contain_text(text)
    screenshot(page, "patient_chart")
