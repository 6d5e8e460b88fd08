# The chart version (patients/chartversion.py): a counter the database bumps on every change to a patient row or to
# a record its chart page shows; the page's rendered body is cached under it. This migration adds the column, the
# functions and the care team's triggers; encounters and prescriptions add their tables' triggers.

from django.db import migrations, models

from patients import chartversion

TABLES = ["patients_careteammember"]


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0004_name_vocabulary'),
    ]

    operations = [
        migrations.AddField(
            model_name='patient',
            name='chart_version',
            field=models.BigIntegerField(db_default=0, default=0, editable=False),
        ),
        chartversion.triggers_operation(TABLES, with_functions=True),
    ]
