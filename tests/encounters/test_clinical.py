from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from encounters import findings as enc_findings
from encounters import notes as enc_notes
from encounters.models import Icd10Code, Note, Problem, VitalSigns


@pytest.fixture
def encounter(clinician, patient):
    return enc_notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Check-up")


@pytest.mark.django_db
def test_note_draft_conflict_sign_addendum(clinician, nurse, encounter):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk)
    v1 = note.version
    enc_notes.note_save_draft(actor=clinician, note_id=note.pk, version=v1, data={"subjective": "Headache"})
    with pytest.raises(enc_notes.NoteConflict, match="Someone else saved"):
        enc_notes.note_save_draft(actor=nurse, note_id=note.pk, version=v1, data={"subjective": "Other"})
    note.refresh_from_db()
    assert note.subjective == "Headache"
    signed = enc_notes.note_sign(actor=clinician, note_id=note.pk, version=note.version)
    assert len(signed.content_hash) == 64 and signed.content_hash == enc_notes.note_hash(signed)
    with pytest.raises(enc_notes.NoteConflict, match="signed"):
        enc_notes.note_save_draft(
            actor=clinician, note_id=note.pk, version=signed.version, data={"plan": "x"}
        )
    enc_notes.addendum_add(actor=clinician, note_id=note.pk, text="Labs ordered.")
    am = enc_notes.amendment_request_record(actor=clinician, note_id=note.pk, requested_text="I said 2 days")
    am = enc_notes.amendment_decide(actor=clinician, amendment_id=am.pk, accept=True)
    assert am.addendum is not None and am.addendum.note_id == note.pk
    assert Note.objects.get(pk=note.pk).subjective == "Headache"


@pytest.mark.django_db
def test_vitals_bmi_and_impossible(clinician, patient, encounter):
    vs = enc_findings.vitals_record(
        actor=clinician,
        patient_id=patient.pk,
        encounter_id=encounter.pk,
        values={"weight": 80, "height": 180, "systolic": 150, "diastolic": 95},
    )
    assert str(vs.bmi) == "24.7"
    with pytest.raises(ValidationError, match="not possible"):
        enc_findings.vitals_record(
            actor=clinician, patient_id=patient.pk, values={"systolic": 900, "heart_rate": 70}
        )
    assert VitalSigns.objects.count() == 1


@pytest.mark.django_db
def test_problem_unknown_code(clinician, patient):
    Icd10Code.objects.create(code="E11.9", description="Type 2 diabetes mellitus without complications")
    with pytest.raises(ValidationError, match="not an ICD-10-CM code"):
        enc_findings.problem_add(actor=clinician, patient_id=patient.pk, code="ZZZ.99")
    p = enc_findings.problem_add(
        actor=clinician,
        patient_id=patient.pk,
        code="e119",
        onset_date=timezone.localdate() - timedelta(days=30),
    )
    assert p.code_id == "E11.9" and Problem.objects.count() == 1
