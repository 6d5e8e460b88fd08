# The chart page shows prescriptions and the preferred pharmacy: their writes bump the patient's chart version
# (patients/chartversion.py).

from django.db import migrations

from patients import chartversion

TABLES = ["prescriptions_prescription", "prescriptions_patientpharmacy"]


class Migration(migrations.Migration):

    dependencies = [
        ("prescriptions", "0003_fill_patient_and_pharmacy"),
        ("patients", "0005_chart_version"),
    ]

    operations = [
        chartversion.triggers_operation(TABLES),
    ]
