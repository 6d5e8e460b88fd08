"""Bad input named in the issue — overlapping times, end before start, a blood pressure of 900, unknown codes,
reversed ranges — gets a clear message and saves nothing, in part or whole; no constraint speaks raw SQL names."""

from datetime import date, datetime, time, timedelta

import pytest
from django.apps import apps
from django.contrib.postgres.constraints import ExclusionConstraint
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from encounters import findings as enc_findings
from encounters import services
from encounters.models import Immunization, MedicationStatement, Problem, VitalSigns
from scheduling import calendars as sched_calendars
from scheduling import guards as sched_guards
from scheduling import services as sched_services
from scheduling import waitlist as sched_waitlist
from scheduling.models import Appointment, Location, TimeOff, WaitlistEntry, WorkingHours
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
def test_database_refusals_become_messages_not_raw_errors(clinician, patient, appt_type):
    """The race path: a row the checks did not see coming is refused by the database, worded for people."""
    entry = WaitlistEntry(
        patient=patient,
        provider=clinician,
        appointment_type=appt_type,
        earliest=date(2030, 5, 2),
        latest=date(2030, 5, 1),
    )
    with pytest.raises(ValidationError) as exc:
        sched_guards.save_guarded(entry, force_insert=True)
    assert _messages(exc) == "The latest date must not be before the earliest date."
    assert "Constraint" not in _messages(exc) and "waitlist_range_order" not in _messages(exc)


@pytest.mark.django_db
def test_reversed_waitlist_range(front_desk, login, clinician, patient, appt_type):
    with pytest.raises(ValidationError) as exc:
        sched_waitlist.waitlist_add(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            earliest=date(2030, 5, 2),
            latest=date(2030, 5, 1),
        )
    assert _messages(exc) == "The latest date must not be before the earliest date."
    resp = login(front_desk).post(
        reverse("scheduling:waitlist_add", args=[patient.pk]),
        {
            "provider": clinician.pk,
            "appointment_type": appt_type.pk,
            "earliest": "2030-05-02",
            "latest": "2030-05-01",
        },
    )
    body = resp.content.decode()
    assert resp.status_code == 200 and "The latest date must not be before the earliest date." in body
    assert "Constraint" not in body
    assert not WaitlistEntry.objects.exists()


@pytest.mark.django_db
def test_overlapping_times(
    hours, front_desk, nurse, clinician, colleague, patient, appt_type, room, tomorrow_9
):
    from tests.scheduling.fixtures import open_hours

    open_hours(colleague)
    sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
        room=room,
    )
    with pytest.raises(ValidationError) as exc:
        sched_services.appointment_book(
            actor=front_desk,
            patient_id=patient.pk,
            provider=clinician,
            appointment_type=appt_type,
            start=tomorrow_9 + timedelta(minutes=10),
        )
    assert "already has an appointment at that time" in _messages(exc)
    with pytest.raises(ValidationError) as exc:  # another provider, the same room
        sched_services.appointment_book(
            actor=front_desk,
            patient_id=patient.pk,
            provider=colleague,
            appointment_type=appt_type,
            start=tomorrow_9 + timedelta(minutes=10),
            room=room,
        )
    assert "room is already booked" in _messages(exc)
    assert Appointment.objects.count() == 1


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
    assert "Systolic blood pressure of 900 mm[Hg] is not possible" in _messages(exc)
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


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["scheduling:day_list", "scheduling:week"])
@pytest.mark.parametrize(
    "query",
    [
        "date=9999-12-31",
        "date=0001-01-01",
        "date=2026-13-40",
        "date=" + "9" * 300,
        "provider=99999999999999999999",
        "provider=abc&provider=-1",
    ],
)
def test_calendar_pages_answer_any_date_or_provider(front_desk, login, page, query):
    """A date at the edge of the calendar (its previous day or the week's end overflowed), a malformed one, an
    unknown provider: the page answers, showing today where the date cannot be shown."""
    resp = login(front_desk).get(reverse(page) + "?" + query)
    assert resp.status_code == 200
    if query.startswith("date="):
        today = timezone.localdate()
        shown = resp.context["day"] if page == "scheduling:day_list" else resp.context["monday"]
        assert shown in (today, today - timedelta(days=today.weekday()))
