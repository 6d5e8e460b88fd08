"""A clinician's encounter in a real browser: vitals, a SOAP note, signing, an addendum; the signed text can no
longer be changed, neither in the page nor by a hand-made POST."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from encounters import findings as enc_findings
from encounters import notes as enc_notes
from encounters import services
from encounters.models import Encounter, Icd10Code, Note, Problem
from tests.conftest import browser_login, screenshot

OOB_WATCH = """() => {
  window.__oobErrors = 0;
  document.body.addEventListener("htmx:oobErrorNoTarget", () => { window.__oobErrors += 1; });
}"""

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
    enc_findings.problem_add(
        actor=clinician,
        patient_id=patient.pk,
        code="I10",
        onset_date=timezone.localdate() - timedelta(days=800),
    )
    enc_findings.problem_add(actor=clinician, patient_id=patient.pk, code="E11.9")
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
        old = enc_notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Hypertension review")
        Encounter.objects.filter(pk=old.pk).update(
            start=now - timedelta(days=30 * (5 - i)), status="finished"
        )
        enc_findings.vitals_record(
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
    page.fill("#id_temperature", "98.2")  # the clinic's units: °F, lb, in (issue 17 item 2)
    page.fill("#id_weight", "181.9")
    page.fill("#id_height", "69.3")
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
    # The page comes back (409) with the message, the signed text unchanged, and the typed text kept for an addendum.
    assert resp.status == 409
    assert "it can no longer be edited" in resp.text() and "Plan: x" in resp.text()
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
    # A drawn chart (uPlot, issue 17 item 2) beside its table; the reading entered above is in both.
    expect(page.locator("#vitals-chart canvas")).to_have_count(1)
    expect(page.get_by_test_id("trend-table")).to_contain_text("146")
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


def _open_blank_note(page, enc):
    page.goto(reverse("encounters:encounter_detail", args=[enc.pk]))
    page.select_option("[data-testid=note-template]", "blank")
    page.click("main button:has-text('New SOAP note')")
    return page.locator("[data-testid=note-form]")


def test_autosave_twice_then_plan_then_sign(page, clinician, patient):
    """Autosave keeps the hidden version current (out-of-band swap by id), watches every section, and Sign then
    succeeds: no false "someone else saved", nothing typed is lost."""
    enc = enc_notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Cough")
    browser_login(page, clinician)
    page.on("dialog", lambda d: d.accept())
    form = _open_blank_note(page, enc)
    page.evaluate(OOB_WATCH)
    status = form.locator("[data-testid=note-status]")
    subjective = form.locator("textarea[name$=subjective]")
    subjective.press_sequentially("Dry cough for five days.", delay=15)
    expect(status).to_contain_text("version 2", timeout=10000)
    subjective.press_sequentially(" No fever.", delay=15)
    expect(status).to_contain_text("version 3", timeout=10000)
    form.locator("textarea[name$=plan]").press_sequentially(
        "Fluids and rest; return if breathless.", delay=15
    )
    expect(status).to_contain_text("version 4", timeout=10000)
    expect(status).to_contain_text("Draft saved")
    assert form.locator("input[type=hidden][name$=-version]").input_value() == "4"
    assert page.evaluate("window.__oobErrors") == 0
    screenshot(page, "note_autosaved")
    form.locator("button[name=sign]").click()
    expect(page.locator(".messages")).to_contain_text("Note signed.")
    expect(page.locator("[data-testid=signed-note]")).to_contain_text(
        "Fluids and rest; return if breathless."
    )
    note = Note.objects.get(encounter=enc)
    assert note.signed and note.subjective == "Dry cough for five days. No fever."
    assert note.plan == "Fluids and rest; return if breathless."


def test_two_people_editing_one_note_see_the_conflict_and_lose_nothing(
    browser, live_server, page, clinician, nurse, patient
):
    enc = enc_notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Rash")
    enc_notes.note_create(actor=clinician, encounter_id=enc.pk, blank=True)
    url = reverse("encounters:encounter_detail", args=[enc.pk])
    browser_login(page, clinician)
    page.on("dialog", lambda d: d.accept())
    page.goto(url)
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    other = ctx.new_page()
    other.set_default_timeout(15000)
    try:
        browser_login(other, nurse)
        other.goto(url)
        # The nurse types first; her autosave wins version 2.
        nurse_form = other.locator("[data-testid=note-form]")
        nurse_form.locator("textarea[name$=subjective]").press_sequentially(
            "Itchy rash on both forearms.", delay=10
        )
        expect(nurse_form.locator("[data-testid=note-status]")).to_contain_text("version 2", timeout=10000)
        # The clinician, still on version 1, types the plan: a visible conflict, not "Draft saved".
        form = page.locator("[data-testid=note-form]")
        plan = form.locator("textarea[name$=plan]")
        plan.press_sequentially("Hydrocortisone 1% twice daily.", delay=10)
        status = form.locator("[data-testid=note-status]")
        expect(status).to_contain_text("Someone else saved this note", timeout=10000)
        expect(status).not_to_contain_text("Draft saved")
        expect(form.locator("[data-testid=their-version]")).to_contain_text("Itchy rash on both forearms.")
        assert plan.input_value() == "Hydrocortisone 1% twice daily."  # the typed text stays
        screenshot(page, "note_conflict")
        # She takes the nurse's history into her text, then keeps hers over version 2; then signs.
        form.locator("textarea[name$=subjective]").fill("Itchy rash on both forearms.")
        form.locator("[data-testid=keep-mine]").click()
        expect(page.locator(".messages")).to_contain_text("Draft saved.")
        page.locator("[data-testid=note-form] button[name=sign]").click()
        expect(page.locator(".messages")).to_contain_text("Note signed.")
        note = Note.objects.get(encounter=enc)
        assert note.signed
        assert (note.subjective, note.plan) == (
            "Itchy rash on both forearms.",
            "Hydrocortisone 1% twice daily.",
        )
        # The nurse's stale tab cannot overwrite the signed note; her text is offered as an addendum.
        nurse_form.locator("textarea[name$=objective]").fill("Erythematous papules.")
        nurse_form.locator("button[name=save]").click()
        expect(other.locator(".messages")).to_contain_text("it can no longer be edited")
        expect(other.locator("#id_text")).to_have_value("Objective: Erythematous papules.")
    finally:
        ctx.close()


def test_lists_search_fill_and_status_buttons(page, clinician, patient, history):
    """ICD-10-CM and allergen search results fill their forms on click; the status buttons (htmx) resolve a
    problem and stop a medication in place; an allergy's status change reloads the page so the banner follows."""
    from prescriptions.models import Medication, MedicationIngredient

    med = Medication.objects.create(rxcui="308182", name="amoxicillin 250 MG Oral Capsule")
    MedicationIngredient.objects.create(
        medication=med, ingredient_key="amoxicillin", ingredient_rxcui="723", name="amoxicillin"
    )
    Icd10Code.objects.create(code="J45.909", description="Unspecified asthma, uncomplicated")
    browser_login(page, clinician)
    page.on("dialog", lambda d: d.accept())

    page.goto(reverse("encounters:problems", args=[patient.pk]))
    page.locator("#icd-q").press_sequentially("asthma", delay=20)
    page.click("#icd10-results button:has-text('J45.909')")
    expect(page.locator("#id_code")).to_have_value("J45.909")
    page.click("main form button:has-text('Add')")
    expect(page.locator(".messages")).to_contain_text("Problem added.")
    row = page.locator("[data-testid=problem-row]", has_text="Unspecified asthma")
    row.locator("button:has-text('Resolve')").click()
    expect(row.locator("[data-testid=problem-status]")).to_have_text("Resolved")
    assert Problem.objects.get(code_id="J45.909").status == "resolved"

    page.goto(reverse("encounters:allergies", args=[patient.pk]))
    page.locator("#id_substance_text").press_sequentially("amoxi", delay=20)
    page.click("#allergen-results button:has-text('amoxicillin')")
    expect(page.locator("#id_substance_text")).to_have_value("amoxicillin")
    expect(page.locator("#id_category")).to_have_value("medication")
    page.select_option("#id_criticality", "high")
    page.click("[data-testid=allergy-form] button:has-text('Add allergy')")
    expect(page.locator(".messages")).to_contain_text("Allergy recorded.")
    expect(page.locator("[data-testid=allergies]")).to_contain_text("RxNorm 723")
    expect(page.locator("[data-testid=allergy-badge]")).to_contain_text("amoxicillin")
    amox = page.locator("[data-testid=allergies] tr", has_text="amoxicillin")
    amox.locator("button:has-text('Entered in error')").click()
    expect(page.locator("[data-testid=allergy-badge]")).not_to_contain_text("amoxicillin")
    expect(page.locator(".messages")).to_contain_text("amoxicillin: entered in error.")

    page.goto(reverse("encounters:medications", args=[patient.pk]))
    row = page.locator("[data-testid=medication-row]", has_text="Metformin")
    row.locator("button:has-text('Stop')").click()
    expect(row.locator("[data-testid=medication-status]")).to_have_text("Stopped")
    screenshot(page, "medication_stopped")
