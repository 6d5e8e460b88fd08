import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from encounters import selectors, services
from encounters.models import AllergyStatus, MedicationSource


@pytest.mark.django_db
def test_allergy_banner_sync(clinician, patient):
    assert patient.allergy_status == "unknown"
    services.allergy_none_known(actor=clinician, patient_id=patient.pk)
    patient.refresh_from_db()
    assert patient.allergy_status == "nka"
    a = services.allergy_record(
        actor=clinician,
        patient_id=patient.pk,
        substance_text="Penicillin",
        category="medication",
        criticality="high",
        reaction="Hives",
    )
    services.allergy_record(actor=clinician, patient_id=patient.pk, substance_text="Peanut", category="food")
    patient.refresh_from_db()
    assert patient.allergy_status == "has"
    assert patient.allergy_summary == "Penicillin, Peanut"
    assert [x.substance_text for x in selectors.allergies_active(patient=patient)] == ["Penicillin", "Peanut"]
    with pytest.raises(ValidationError):
        services.allergy_none_known(actor=clinician, patient_id=patient.pk)
    services.allergy_status_set(actor=clinician, allergy_id=a.pk, status=AllergyStatus.ERROR)
    patient.refresh_from_db()
    assert patient.allergy_summary == "Peanut"


@pytest.mark.django_db
def test_allergy_refused_to_outsiders_and_front_desk(colleague, front_desk, patient):
    for user in (colleague, front_desk):
        with pytest.raises(Http404):
            services.allergy_record(
                actor=user, patient_id=patient.pk, substance_text="Latex", category="environment"
            )
    patient.refresh_from_db()
    assert patient.allergy_status == "unknown"


@pytest.mark.django_db
def test_allergy_bad_input_saves_nothing(clinician, patient):
    with pytest.raises(ValidationError):
        services.allergy_record(
            actor=clinician, patient_id=patient.pk, substance_text="", category="medication"
        )
    with pytest.raises(ValidationError):
        services.allergy_record(
            actor=clinician, patient_id=patient.pk, substance_text="X", category="nonsense"
        )
    assert selectors.allergies_active(patient=patient) == []


@pytest.mark.django_db
def test_medications(clinician, patient):
    import uuid

    services.medication_record(
        actor=clinician, patient_id=patient.pk, name="Ibuprofen 200 mg", dose_text="prn"
    )
    rx = uuid.uuid4()
    m = services.medication_record_prescribed(
        patient=patient,
        rxcui="197361",
        name="Amlodipine 5 mg tablet",
        dose_text="1 daily",
        prescription_id=rx,
        actor=clinician,
    )
    again = services.medication_record_prescribed(
        patient=patient,
        rxcui="197361",
        name="Amlodipine 5 mg tablet",
        dose_text="1 daily",
        prescription_id=rx,
        actor=clinician,
    )
    assert m.pk == again.pk and m.source == MedicationSource.PRESCRIBED
    assert [x.name for x in selectors.medications_active(patient=patient)] == [
        "Amlodipine 5 mg tablet",
        "Ibuprofen 200 mg",
    ]
    services.medication_stop(actor=clinician, medication_id=m.pk)
    assert len(selectors.medications_active(patient=patient)) == 1
