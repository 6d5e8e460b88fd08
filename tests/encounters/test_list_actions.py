"""The list pages' actions: resolve or inactivate a problem, change an allergy's status, stop a medication, remove
from the waitlist or decline an offer; the allergen and ICD-10-CM searches that fill the forms; immunizations and
results. Each: happy path, outsider 404, read-only 403/404, wrong method 405, and the audit rows written."""

from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent, Outcome
from encounters import findings as enc_findings
from encounters import notes as enc_notes
from encounters import selectors, services
from encounters.models import Allergy, Icd10Code, Immunization, MedicationStatement, Observation, Problem
from scheduling import services as sched_services
from scheduling.recurrence import aware

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def icd(db):
    Icd10Code.objects.bulk_create(
        [
            Icd10Code(code="I10", description="Essential (primary) hypertension"),
            Icd10Code(code="E11.9", description="Type 2 diabetes mellitus without complications"),
            Icd10Code(code="E11", description="Type 2 diabetes mellitus", billable=False),
        ]
    )


@pytest.mark.django_db
def test_problem_resolve_inactivate_reactivate(login, clinician, colleague, nurse, front_desk, patient, icd):
    p = enc_findings.problem_add(
        actor=clinician, patient_id=patient.pk, code="I10", onset_date=date(2020, 1, 1)
    )
    url = reverse("encounters:problem_status", args=[p.pk])
    client = login(clinician)
    assert client.get(url).status_code == 405
    page = client.get(reverse("encounters:problems", args=[patient.pk])).content.decode()
    assert url in page and "Resolve" in page and "Inactivate" in page
    resp = client.post(url, {"status": "resolved", "resolved_date": "2024-03-01"}, **HTMX)
    row = resp.content.decode()
    assert resp.status_code == 200 and row.startswith("<tr") and "Resolved" in row and "2024-03-01" in row
    assert "Reactivate" in row
    p.refresh_from_db()
    assert (p.status, p.resolved_date) == ("resolved", date(2024, 3, 1))
    assert AccessEvent.objects.filter(
        patient_id=patient.pk, channel="write", detail__model="encounters.Problem", action="update"
    ).exists()
    client.post(url, {"status": "active"}, **HTMX)
    p.refresh_from_db()
    assert p.status == "active" and p.resolved_date is None
    resp = client.post(url, {"status": "inactive"})  # without JavaScript: back to the list with a message
    assert resp.status_code == 302 and resp["Location"].endswith(f"/patients/{patient.pk}/problems/")
    # Outsider: 404 and a denied event; the front desk never touches clinical data (told so: 403, and recorded).
    for user, status in ((colleague, 404), (front_desk, 403)):
        assert login(user).post(url, {"status": "resolved"}).status_code == status
        assert AccessEvent.objects.filter(actor=user, outcome=Outcome.DENIED, patient_id=patient.pk).exists()
    # A future resolution date: the message in the row, nothing saved.
    resp = login(nurse).post(
        url, {"status": "resolved", "resolved_date": str(timezone.localdate() + timedelta(days=2))}, **HTMX
    )
    assert "cannot be in the future" in resp.content.decode()
    assert Problem.objects.get().status == "inactive"


@pytest.mark.django_db
def test_allergy_status_change_refreshes_the_banner(login, clinician, colleague, patient):
    a = services.allergy_record(
        actor=clinician, patient_id=patient.pk, substance_text="Peanut", category="food"
    )
    url = reverse("encounters:allergy_status", args=[a.pk])
    client = login(clinician)
    assert client.get(url).status_code == 405
    page = client.get(reverse("encounters:allergies", args=[patient.pk])).content.decode()
    assert url in page and "Entered in error" in page
    resp = client.post(url, {"status": "resolved"}, **HTMX)
    assert resp.status_code == 204 and resp["HX-Refresh"] == "true"
    a.refresh_from_db()
    patient.refresh_from_db()
    assert a.status == "resolved" and patient.allergy_status == "unknown" and patient.allergy_summary == ""
    resp = client.post(url, {"status": "active"})
    assert resp.status_code == 302
    patient.refresh_from_db()
    assert patient.allergy_summary == "Peanut"
    assert login(colleague).post(url, {"status": "inactive"}).status_code == 404
    assert Allergy.objects.get().status == "active"


@pytest.mark.django_db
def test_medication_stop(login, clinician, colleague, patient):
    m = services.medication_record(
        actor=clinician, patient_id=patient.pk, name="Ibuprofen 200 mg", started_on=date(2024, 1, 1)
    )
    url = reverse("encounters:medication_stop", args=[m.pk])
    client = login(clinician)
    assert client.get(url).status_code == 405
    assert url in client.get(reverse("encounters:medications", args=[patient.pk])).content.decode()
    resp = client.post(url, {"status": "stopped", "stopped_on": "2024-06-01"}, **HTMX)
    assert (
        resp.status_code == 200
        and "Stopped" in resp.content.decode()
        and "2024-06-01" in resp.content.decode()
    )
    m.refresh_from_db()
    assert (m.status, m.stopped_on) == ("stopped", date(2024, 6, 1))
    again = client.post(url, {"status": "stopped"}, **HTMX).content.decode()
    assert "no longer active" in again
    assert login(colleague).post(url, {"status": "stopped"}).status_code == 404
    assert (
        AccessEvent.objects.filter(
            patient_id=patient.pk,
            channel="write",
            detail__model="encounters.MedicationStatement",
            action="update",
        ).count()
        == 1
    )
    assert MedicationStatement.objects.get().status == "stopped"


@pytest.mark.django_db
def test_drug_allergy_stores_the_catalog_ingredient(login, clinician, patient):
    from prescriptions.models import Medication, MedicationIngredient

    med = Medication.objects.create(rxcui="308182", name="amoxicillin 250 MG Oral Capsule")
    MedicationIngredient.objects.create(
        medication=med, ingredient_key="amoxicillin", ingredient_rxcui="723", name="amoxicillin"
    )
    client = login(clinician)
    frag = client.get(reverse("encounters:allergen_search"), {"substance_text": "amoxi"}).content.decode()
    assert 'data-fill-value2="723"' in frag and "amoxicillin" in frag
    resp = client.post(
        reverse("encounters:allergies", args=[patient.pk]),
        {
            "substance_text": "amoxicillin",
            "substance_rxcui": "723",
            "category": "medication",
            "criticality": "high",
        },
    )
    assert resp.status_code == 302
    # Typed without picking: matched by exact name. A food stays free text, with no code.
    services.allergy_record(
        actor=clinician, patient_id=patient.pk, substance_text="Amoxicillin", category="medication"
    )
    services.allergy_record(
        actor=clinician,
        patient_id=patient.pk,
        substance_text="Peanut",
        category="food",
        substance_rxcui="723",
    )
    assert sorted(Allergy.objects.values_list("substance_text", "substance_rxcui")) == [
        ("Amoxicillin", "723"),
        ("Peanut", ""),
        ("amoxicillin", "723"),
    ]


@pytest.mark.django_db
def test_icd10_results_fill_the_form_and_use_the_trigram_index(login, clinician, icd):
    frag = (
        login(clinician).get(reverse("encounters:icd10_search"), {"q": "diabetes mellitus"}).content.decode()
    )
    assert 'data-fill-target="#id_code" data-fill-value="E11.9"' in frag
    assert [c.code for c in selectors.icd10_search(q="mellitus type")] == ["E11.9", "E11"]
    assert [c.code for c in selectors.icd10_search(q="100%_")] == []  # LIKE wildcards are literal
    sql, params = selectors.icd10_search_queryset(q="diabet").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "icd10_description_trgm" in plan, plan


@pytest.mark.django_db
def test_immunizations_page_records_by_hand(login, clinician, nurse, colleague, front_desk, patient):
    url = reverse("encounters:immunizations", args=[patient.pk])
    client = login(nurse)
    page = client.get(url).content.decode()
    assert "Tdap (CVX 115)" in page and 'data-testid="immunization-form"' in page
    resp = client.post(
        url,
        {"vaccine_code": "115", "occurrence": "2024-09-12", "lot_number": "AB123", "site": "left deltoid"},
    )
    assert resp.status_code == 302
    imm = Immunization.objects.get()
    assert (imm.vaccine_code, imm.lot_number, imm.performer) == ("115", "AB123", nurse)
    assert imm.occurrence.astimezone(aware(imm.occurrence.replace(tzinfo=None)).tzinfo).date() == date(
        2024, 9, 12
    )
    assert AccessEvent.objects.filter(patient_id=patient.pk, category="immunizations", action="view").exists()
    assert AccessEvent.objects.filter(
        patient_id=patient.pk, category="immunizations", channel="write"
    ).exists()
    bad = client.post(url, {"vaccine_code": "999", "occurrence": "2024-09-12"})
    assert bad.status_code == 200 and Immunization.objects.count() == 1
    assert login(colleague).get(url).status_code == 404
    assert login(front_desk).get(url).status_code == 403


@pytest.mark.django_db
def test_results_page_groups_and_flags_read_only(login, clinician, patient):
    now = timezone.now()
    for days, value in ((100, "6.1"), (10, "7.4")):
        Observation.objects.create(
            patient=patient,
            loinc_code="4548-4",
            display="Hemoglobin A1c/Hemoglobin.total in Blood",
            value_quantity=value,
            value_unit="%",
            reference_low="4.0",
            reference_high="5.6",
            effective=now - timedelta(days=days),
        )
    Observation.objects.create(
        patient=patient,
        loinc_code="2345-7",
        display="Glucose [Mass/volume] in Serum or Plasma",
        value_quantity="88",
        value_unit="mg/dL",
        reference_low="70",
        reference_high="99",
        effective=now - timedelta(days=10),
    )
    client = login(clinician)
    url = reverse("encounters:results", args=[patient.pk])
    resp = client.get(url)
    body = resp.content.decode()
    assert body.count('data-testid="result-group"') == 2 and body.count('data-testid="result-flag"') == 2
    assert body.index("7.4") < body.index("6.1")  # newest first
    assert client.post(url).status_code == 405
    assert AccessEvent.objects.filter(patient_id=patient.pk, category="results", action="view").exists()
    chart = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert "Latest results" in chart and "Immunizations" in chart and "7.4" in chart and "6.1" not in chart


@pytest.mark.django_db
def test_every_encounters_page_records_its_data_category(
    hours, login, clinician, front_desk, patient, appt_type, tomorrow_9, icd
):
    appt = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    enc = enc_notes.encounter_start(actor=clinician, patient_id=patient.pk)
    pages = {
        reverse("encounters:timeline", args=[patient.pk]): "encounter list",
        reverse("encounters:encounter_detail", args=[enc.pk]): "encounter",
        reverse("encounters:vitals_trend", args=[patient.pk]): "vital signs",
        reverse("encounters:problems", args=[patient.pk]): "problem list",
        reverse("encounters:allergies", args=[patient.pk]): "allergy list",
        reverse("encounters:medications", args=[patient.pk]): "medication list",
        reverse("encounters:immunizations", args=[patient.pk]): "immunizations",
        reverse("encounters:results", args=[patient.pk]): "results",
        reverse("scheduling:patient_schedule", args=[patient.pk]): "appointments",
        reverse("scheduling:appointment_detail", args=[appt.pk]): "appointments",
        reverse("scheduling:appointment_book", args=[patient.pk]): "appointments",
        reverse("scheduling:waitlist_add", args=[patient.pk]): "appointments",
    }
    client = login(clinician)
    for url, category in pages.items():
        last = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        assert client.get(url).status_code == 200, url
        events = AccessEvent.objects.filter(id__gt=last, patient_id=patient.pk, outcome=Outcome.SUCCESS)
        assert list(events.values_list("category", flat=True)) == [category], url
    # List pages name the patients shown in one event.
    desk = login(front_desk)
    for url in (
        reverse("scheduling:day_list") + f"?date={tomorrow_9.date()}",
        reverse("scheduling:week") + f"?date={tomorrow_9.date()}",
    ):
        last = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        assert desk.get(url).status_code == 200
        ev = AccessEvent.objects.get(id__gt=last, action="list")
        assert ev.category == "appointments" and [str(p) for p in ev.patient_ids] == [str(patient.pk)]
