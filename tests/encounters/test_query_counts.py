"""The chart and the encounter pages cost the same number of queries for 10 and for 1,000 encounters (and the
immunization and results pages for 10 and 1,000 rows of theirs)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from encounters import findings as enc_findings
from encounters import notes as enc_notes
from encounters import services
from encounters.models import Encounter, Immunization, Observation
from tests.factories import chart_changed


def _bulk_encounters(patient, provider, n):
    now = timezone.now()
    Encounter.objects.bulk_create(
        [
            Encounter(
                patient=patient, provider=provider, reason=f"visit {i}", start=now - timedelta(days=i + 1)
            )
            for i in range(n)
        ]
    )


def _bulk_clinical(patient, n):
    now = timezone.now()
    Immunization.objects.bulk_create(
        [
            Immunization(patient=patient, vaccine_code="150", occurrence=now - timedelta(days=i + 1))
            for i in range(n)
        ]
    )
    Observation.objects.bulk_create(
        [
            Observation(
                patient=patient,
                loinc_code=("2345-7", "4548-4", "2093-3", "718-7")[i % 4],
                display="Result",
                value_quantity=90 + i % 20,
                value_unit="mg/dL",
                reference_low=70,
                reference_high=99,
                effective=now - timedelta(days=i + 1),
            )
            for i in range(n)
        ]
    )


def _count(client, url, patient):
    chart_changed(patient)  # the chart page is drawn each time, not served from its cache (patients/chart.py)
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
    assert resp.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_chart_and_encounter_pages_constant_queries(login, clinician, patient):
    client = login(clinician)
    services.allergy_record(
        actor=clinician, patient_id=patient.pk, substance_text="Penicillin", category="medication"
    )
    enc_findings.vitals_record(
        actor=clinician, patient_id=patient.pk, values={"systolic": 120, "diastolic": 80}
    )
    enc = enc_notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Cough")
    note = enc_notes.note_create(actor=clinician, encounter_id=enc.pk)
    enc_notes.note_save_draft(
        actor=clinician, note_id=note.pk, version=note.version, data={"subjective": "Cough"}
    )
    urls = [
        reverse("patients:detail", args=[patient.pk]),
        reverse("encounters:timeline", args=[patient.pk]),
        reverse("encounters:encounter_detail", args=[enc.pk]),
        reverse("encounters:immunizations", args=[patient.pk]),
        reverse("encounters:results", args=[patient.pk]),
        reverse("encounters:results", args=[patient.pk]) + "?code=2345-7",  # one test's drawn trend
    ]
    _bulk_encounters(patient, clinician, 9)
    _bulk_clinical(patient, 10)
    for u in urls:
        _count(client, u, patient)  # warm caches (session, content types)
    small = [_count(client, u, patient) for u in urls]
    _bulk_encounters(patient, clinician, 991)
    _bulk_clinical(patient, 990)
    large = [_count(client, u, patient) for u in urls]
    assert small == large
