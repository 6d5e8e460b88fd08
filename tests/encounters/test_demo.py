"""encounters.demo.demo_build on a handful of patients: every kind of row appears, constraints hold, one audit
event names the patients, and it is quick."""

import random
import time
from datetime import date

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AccessEvent
from encounters import demo
from encounters.models import (
    Allergy,
    Appointment,
    AppointmentStatus,
    Encounter,
    Icd10Code,
    MedicationStatement,
    Note,
    NoteStatus,
    Problem,
    Series,
    VitalSigns,
    WaitlistEntry,
    WorkingHours,
)
from encounters.services import note_hash
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
