# The chart-version bump (patients/chartversion.py) learns a session switch for bulk loads: with
# `SET ehr.chart_version_bump = 'off'` a statement's trigger bumps nothing, and the load bumps its patients once at
# the end. The bench's seed set every patient's version once per COPY chunk of every clinical table (6.4M updates of
# patients_patient for 1M patients before the prescriptions were loaded).

from django.db import migrations

from patients import chartversion


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0005_chart_version'),
    ]

    operations = [
        migrations.RunSQL(chartversion.BUMP_FUNCTION_SQL, chartversion.BUMP_FUNCTION_V1_SQL),
    ]
