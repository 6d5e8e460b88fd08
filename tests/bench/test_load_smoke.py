"""The load runner end to end, small: 5 simulated staff for 20 seconds against gunicorn + a Celery worker on the
test database (bench/load/runner.py; the full run is `python3 dev.py manage load_run`, docs/benchmark.md). Every
request answers as expected, every response that showed a patient has its access event, the chain verifies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bench.load.runner import load_run, report
from tests.factories import PASSWORD


@pytest.fixture
def clinic(patient, clinician, nurse, front_desk, privacy):
    from encounters.models import Encounter
    from prescriptions import services
    from prescriptions.catalog import catalog_import_products
    from prescriptions.models import Medication
    from scheduling.models import Appointment, AppointmentType

    catalog_import_products(
        products=[
            {
                "rxcui": "314076",
                "name": "Lisinopril 10 MG Oral Tablet",
                "tty": "SCD",
                "ingredients": [{"name": "Lisinopril", "rxcui": "29046"}],
            }
        ],
        schedules={},
    )
    atype = AppointmentType.objects.create(name="Load visit", duration_minutes=20)
    start = timezone.now() + timedelta(hours=1)
    Appointment.objects.create(
        patient=patient,
        provider=clinician,
        appointment_type=atype,
        start=start,
        end=start + timedelta(minutes=20),
    )
    Encounter.objects.create(patient=patient, provider=clinician, start=timezone.now())
    med = Medication.objects.get(rxcui="314076")
    data = {"medication_id": med.pk, "dose": Decimal(1), "quantity": Decimal(30), "quantity_unit": "C48542"}
    services.prescription_create(actor=clinician, patient_id=patient.pk, data=data)
    return patient


# transactional: gunicorn and the worker read the rows from their own connections
@pytest.mark.django_db(transaction=True)
def test_load_run_small(clinic, tmp_path):
    result = load_run(users=5, seconds=20, workers=2, seed=False, password=PASSWORD, out=tmp_path)
    text = report(result)
    print(text)
    total = result["stats"]["total"]
    assert total["requests"] > 20, text
    assert total["failures"] == 0, text
    assert result["audit"]["phi_responses"] > 0, text
    assert result["audit"]["gaps"] == 0, text
    assert result["audit_verify_ok"], text
    assert result["server_log_errors"] == 0, text
