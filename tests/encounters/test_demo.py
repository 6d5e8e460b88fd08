"""encounters.demo.demo_build on a handful of patients: every kind of row appears, constraints hold, one audit
event names the patients, and it is quick."""

import random
import time
from datetime import date

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AccessEvent
from encounters import demo, vitals
from encounters.models import (
    Allergy,
    Encounter,
    Icd10Code,
    Immunization,
    MedicationStatement,
    Note,
    NoteStatus,
    NoteTemplate,
    Observation,
    Problem,
    VitalSigns,
)
from encounters.notes import note_hash
from scheduling.models import Appointment, AppointmentStatus, Series, WaitlistEntry, WorkingHours
from tests.factories import PractitionerFactory, UserFactory, make_patient


@pytest.mark.django_db
def test_demo_build_small_clinic(front_desk, department, clinician, colleague):
    third = PractitionerFactory(
        user=UserFactory(username="dr.quinn", roles=[Role.CLINICIAN]), npi="1679576722", dea_number=""
    ).user
    providers = [clinician, colleague, third]
    patients = [
        make_patient(
            given_name=f"P{i}",
            family_name="Demo",
            ssn=f"555-00-{1000 + i}",
            department=department,
            birth_date=date(1950 + i * 5, 1, 1 + i),
        )
        for i in range(15)
    ]
    Icd10Code.objects.create(
        code="A00.0", description="Cholera"
    )  # a loaded table: the full list is not reloaded
    t0 = time.monotonic()
    demo.demo_build(patients=patients, providers=providers, front_desk=front_desk, rng=random.Random(7))
    assert time.monotonic() - t0 < 10

    assert WorkingHours.objects.count() == 15
    assert Series.objects.count() == 6
    today = timezone.localdate()
    assert Appointment.objects.filter(start__date=today).exists()
    statuses = set(Appointment.objects.values_list("status", flat=True))
    assert {AppointmentStatus.DONE, AppointmentStatus.SCHEDULED, AppointmentStatus.NO_SHOW} <= statuses
    assert Encounter.objects.count() >= Appointment.objects.filter(status=AppointmentStatus.DONE).count()
    long = Encounter.objects.filter(patient__in=patients).values("patient").distinct().count()
    assert long >= 10
    signed = list(Note.objects.filter(status=NoteStatus.SIGNED)[:20])
    assert signed and all(n.content_hash == note_hash(n) for n in signed)
    assert VitalSigns.objects.count() > 0 and Problem.objects.exists()
    # Vitals as a US clinic types them (kept beside the UCUM value); every finished visit has its primary
    # diagnosis; a note template per visit type.
    vs = VitalSigns.objects.exclude(temperature__isnull=True).first()
    assert vs.temperature_unit == "[degF]" and vs.weight_unit == "[lb_av]" and vs.height_unit == "[in_i]"
    assert abs(float(vitals.from_base(vs.temperature, "[degF]")) - float(vs.temperature_entered)) < 0.01
    finished = Encounter.objects.filter(status="finished")
    assert finished.exists()
    assert not finished.exclude(diagnoses__rank=1).exists()
    assert set(NoteTemplate.objects.values_list("encounter_type", flat=True)) >= {
        "office",
        "telehealth",
        "phone",
        "urgent",
        "wellness",
    }
    assert MedicationStatement.objects.filter(
        rxcui="197806", status="active"
    ).exists()  # ibuprofen for the Rx demo
    for p in patients:
        p.refresh_from_db()
        active = Allergy.objects.filter(patient=p, status="active").exists()
        assert (p.allergy_status == "has") == active
    assert WaitlistEntry.objects.count() >= 2
    event = AccessEvent.objects.get(channel="command", category="encounter list")
    assert len(event.patient_ids) == len(patients)

    # Immunizations for everyone, by age; laboratory results with reference ranges and flags.
    assert {i.patient_id for i in Immunization.objects.all()} == {p.pk for p in patients}
    child = min(patients, key=lambda p: today.year - p.birth_date.year)  # born 2020: a young child
    assert set(Immunization.objects.filter(patient=child).values_list("vaccine_code", flat=True)) >= {
        "08",
        "20",
        "03",
    }
    assert all(
        i.occurrence.date() >= i.patient.birth_date for i in Immunization.objects.select_related("patient")
    )
    codes = set(Observation.objects.values_list("loinc_code", flat=True))
    assert codes >= {"2345-7", "2093-3", "718-7"}
    assert Observation.objects.filter(interpretation="H").exists()
    glucose = Observation.objects.filter(loinc_code="2345-7").first()
    assert (glucose.value_unit, glucose.reference_low, glucose.reference_high) == ("mg/dL", 70, 99)
    # Conditions fit the age: no child has type 2 diabetes, hypertension or osteoarthritis.
    for p in patients:
        age = (today - p.birth_date).days // 365
        problems = set(Problem.objects.filter(patient=p).values_list("code_id", flat=True))
        assert all(pr.onset_date >= p.birth_date for pr in Problem.objects.filter(patient=p))
        if age < 18:
            assert not problems & {"I10", "E11.9", "E78.5", "M17.11", "M81.0", "I48.91"}, (age, problems)
            assert not Observation.objects.filter(patient=p).exists()
