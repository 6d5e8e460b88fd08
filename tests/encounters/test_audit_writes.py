"""Every write to patient data leaves an audit entry: rows through save() (django-auditlog, PHI masked), the few
conditional or bulk UPDATEs through an explicit access event. Reminder settings come from the environment and the
SMS backend is pluggable."""

from datetime import timedelta

import pytest
from auditlog.registry import auditlog
from django.apps import apps

from audit.models import AccessEvent, Action
from encounters import closing, notes
from encounters.apps import AUDITED
from encounters.models import Encounter, EncounterStatus, Icd10Code
from patients.models import Patient
from scheduling import services as sched_services
from scheduling.apps import AUDITED as SCHEDULING_AUDITED
from scheduling.models import AppointmentStatus, Reminder, ReminderStatus


@pytest.mark.parametrize("app, audited", [("encounters", AUDITED), ("scheduling", SCHEDULING_AUDITED)])
def test_every_patient_linked_model_is_registered_with_masked_phi(app, audited):
    for model in apps.get_app_config(app).get_models():
        linked = any(getattr(f, "related_model", None) is Patient for f in model._meta.get_fields())
        if not linked:
            continue
        assert auditlog.contains(model), model.__name__
        if model.__name__ != "Note":  # the note's text is excluded (autosave), its hash fixes the signed text
            masked = auditlog.get_model_fields(model)["mask_fields"]
            assert masked and set(masked) == set(audited[model.__name__]), model.__name__
            names = {f.name for f in model._meta.get_fields()}
            assert set(masked) <= names, model.__name__


def _writes(patient, model):
    return AccessEvent.objects.filter(patient_id=patient.pk, channel="write", detail__model=model)


@pytest.mark.django_db
def test_finishing_an_encounter_and_skipping_reminders_are_audited(
    hours, front_desk, clinician, patient, appt_type, tomorrow_9
):
    a = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9,
    )
    assert _writes(patient, "scheduling.Reminder").filter(action=Action.CREATE).count() == 2
    for status in (AppointmentStatus.CHECKED_IN, AppointmentStatus.WITH_PROVIDER):
        sched_services.appointment_advance(actor=front_desk, appointment_id=a.pk, status=status)
    enc = Encounter.objects.get(appointment=a)
    # A complete visit (signed note, a diagnosis) is finished by the checkout.
    Icd10Code.objects.get_or_create(code="I10", defaults={"description": "Essential (primary) hypertension"})
    note = notes.note_create(actor=clinician, encounter_id=enc.pk, blank=True)
    note = notes.note_save_draft(actor=clinician, note_id=note.pk, version=note.version, data={"plan": "x"})
    notes.note_sign(actor=clinician, note_id=note.pk, version=note.version)
    closing.diagnosis_add(actor=clinician, encounter_id=enc.pk, code="I10")
    sched_services.appointment_advance(actor=front_desk, appointment_id=a.pk, status=AppointmentStatus.DONE)
    enc.refresh_from_db()
    assert enc.status == EncounterStatus.FINISHED and enc.end is not None
    assert _writes(patient, "encounters.Encounter").filter(action=Action.UPDATE).exists()
    b = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=tomorrow_9 + timedelta(hours=2),
    )
    before = _writes(patient, "scheduling.Reminder").filter(action=Action.UPDATE).count()
    sched_services.appointment_cancel(actor=front_desk, appointment_id=b.pk, reason="Unwell")
    assert set(Reminder.objects.filter(appointment=b).values_list("status", flat=True)) == {
        ReminderStatus.SKIPPED
    }
    assert _writes(patient, "scheduling.Reminder").filter(action=Action.UPDATE).count() == before + 2
