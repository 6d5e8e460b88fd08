"""Bad input named in the issue — overlapping times, end before start, a blood pressure of 900, unknown codes,
reversed ranges — gets a clear message and saves nothing, in part or whole; no constraint speaks raw SQL names."""

from datetime import date, datetime, time, timedelta

import pytest
from django.apps import apps
from django.contrib.postgres.constraints import ExclusionConstraint
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from encounters import findings as enc_findings
from encounters import services
from encounters.models import Immunization, MedicationStatement, Problem, VitalSigns
from scheduling import calendars as sched_calendars
from scheduling.models import Location, TimeOff, WorkingHours
from scheduling.recurrence import aware


def _messages(exc) -> str:
    return " ".join(exc.value.messages)


@pytest.mark.parametrize("app", ["encounters", "scheduling"])
def test_every_constraint_has_a_human_message(app):
    for model in apps.get_app_config(app).get_models():
        for c in model._meta.constraints:
            if isinstance(c, (models.CheckConstraint, ExclusionConstraint, models.UniqueConstraint)):
                msg = str(c.violation_error_message or "")
                assert msg and "%(name)s" not in msg and c.name not in msg, f"{model.__name__}.{c.name}"


@pytest.mark.django_db
def test_end_before_start(front_desk, clinician, patient):
    start = aware(datetime(2030, 6, 3, 12))
    with pytest.raises(ValidationError) as exc:
        sched_calendars.time_off_add(
            actor=front_desk, provider=clinician, kind="time_off", start=start, end=start - timedelta(hours=1)
        )
    assert _messages(exc) == "The end of the time off must be after its start."
    wh = WorkingHours(
        provider=clinician,
        location=Location.objects.create(name="X"),
        weekday=0,
        start_time=time(17),
        end_time=time(8),
        effective_from=date(2030, 1, 1),
    )
    with pytest.raises(ValidationError) as exc:
        wh.full_clean()
    assert "The end of the working hours must be after their start." in exc.value.messages
    med = services.medication_record(
        actor=clinician, patient_id=patient.pk, name="Lisinopril", started_on=date(2024, 5, 1)
    )
    with pytest.raises(ValidationError) as exc:
        services.medication_stop(actor=clinician, medication_id=med.pk, stopped_on=date(2024, 4, 1))
    assert _messages(exc) == "A medication cannot be stopped before the day it was started."
    from encounters.models import Icd10Code

    Icd10Code.objects.create(code="I10", description="Essential (primary) hypertension")
    problem = enc_findings.problem_add(
        actor=clinician, patient_id=patient.pk, code="I10", onset_date=date(2020, 1, 1)
    )
    with pytest.raises(ValidationError) as exc:
        enc_findings.problem_status_set(
            actor=clinician, problem_id=problem.pk, status="resolved", resolved_date=date(2019, 1, 1)
        )
    assert _messages(exc) == "A problem cannot be resolved before its onset."
    assert not TimeOff.objects.exists() and not WorkingHours.objects.exists()
    assert MedicationStatement.objects.get().status == "active"
    assert Problem.objects.get().status == "active"


@pytest.mark.django_db
def test_blood_pressure_of_900_saves_nothing(clinician, patient):
    with pytest.raises(ValidationError) as exc:
        enc_findings.vitals_record(
            actor=clinician,
            patient_id=patient.pk,
            values={"systolic": 900, "diastolic": 80, "heart_rate": 70},
        )
    assert "Systolic blood pressure of 900 mmHg is not possible" in _messages(exc)
    assert not VitalSigns.objects.exists()  # not the heart rate either: all or nothing


@pytest.mark.django_db
def test_unknown_codes(clinician, patient):
    with pytest.raises(ValidationError, match="not an ICD-10-CM code"):
        enc_findings.problem_add(actor=clinician, patient_id=patient.pk, code="ZZZ.99")
    with pytest.raises(ValidationError) as exc:
        enc_findings.immunization_record(
            actor=clinician, patient_id=patient.pk, vaccine_code="999", occurrence=timezone.localdate()
        )
    assert "not a CVX code" in _messages(exc)
    with pytest.raises(ValidationError) as exc:
        services.allergy_record(
            actor=clinician,
            patient_id=patient.pk,
            substance_text="Penicillin",
            category="medication",
            substance_rxcui="99999999",
        )
    assert "not an ingredient in the medication catalog" in _messages(exc)
    with pytest.raises(ValidationError, match="future"):
        enc_findings.immunization_record(
            actor=clinician,
            patient_id=patient.pk,
            vaccine_code="115",
            occurrence=timezone.localdate() + timedelta(days=3),
        )
    assert not Problem.objects.exists() and not Immunization.objects.exists()
    patient.refresh_from_db()
    assert patient.allergy_status == "unknown"
