# Every table the chart page shows bumps its patients' chart version (patients/chartversion.py).

from django.db import migrations

from patients import chartversion

TABLES = [
    "encounters_encounter",
    "encounters_problem",
    "encounters_allergy",
    "encounters_medicationstatement",
    "encounters_vitalsigns",
    "encounters_observation",
    "encounters_immunization",
]


class Migration(migrations.Migration):

    dependencies = [
        ('encounters', '0006_appointment_span_index'),
        ('patients', '0005_chart_version'),
    ]

    operations = [
        chartversion.triggers_operation(TABLES),
    ]
