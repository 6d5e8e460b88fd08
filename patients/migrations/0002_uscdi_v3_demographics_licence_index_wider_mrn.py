# USCDI v3 demographics (sexual orientation, tribal affiliation, occupation and its industry), a blind index for
# the driver's licence (duplicate detection), MRNs wider than 8 digits (check digit kept), no date of death in the
# future.

import django.db.models.functions.datetime
from django.db import migrations, models


def index_licences(apps, schema_editor):
    """Blind-index the driver's licences already stored, so duplicate detection finds them (patients/crypto.py).
    Reads the encrypted column through the model field (decrypts with FIELD_ENCRYPTION_KEYS) in batches."""
    from patients import crypto

    Patient = apps.get_model("patients", "Patient")
    rows = Patient.objects.filter(drivers_license__isnull=False).exclude(drivers_license="").order_by("pk")
    last = None
    while True:
        batch = list((rows.filter(pk__gt=last) if last else rows).only("pk", "drivers_license")[:2000])
        if not batch:
            return
        for p in batch:
            p.drivers_license_bidx = crypto.blind_index("dl", crypto.licence(p.drivers_license or ""))
        Patient.objects.bulk_update(batch, ["drivers_license_bidx"])
        last = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='patient',
            name='patient_mrn_format',
        ),
        migrations.AddField(
            model_name='patient',
            name='drivers_license_bidx',
            field=models.CharField(blank=True, db_index=True, max_length=40),
        ),
        migrations.AddField(
            model_name='patient',
            name='occupation',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='patient',
            name='occupation_industry',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='patient',
            name='sexual_orientation',
            field=models.CharField(blank=True, choices=[('20430005', 'Straight or heterosexual'), ('38628009', 'Lesbian, gay or homosexual'), ('42035005', 'Bisexual'), ('OTH', 'Something else'), ('UNK', "Don't know"), ('ASKU', 'Chose not to disclose')], max_length=20),
        ),
        migrations.AddField(
            model_name='patient',
            name='tribal_affiliation',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddConstraint(
            model_name='patient',
            constraint=models.CheckConstraint(condition=models.Q(('mrn__regex', '^\\d{8,12}$')), name='patient_mrn_format'),
        ),
        migrations.RunPython(index_licences, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='patient',
            constraint=models.CheckConstraint(condition=models.Q(('deceased_date__isnull', True), ('deceased_date__lte', django.db.models.functions.datetime.Now()), _connector='OR'), name='patient_deceased_not_future'),
        ),
    ]
