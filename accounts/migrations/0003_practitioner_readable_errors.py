"""Human messages for the Practitioner constraints and uniqueness (shown by the admin); no database change."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import accounts.validators


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="practitioner",
            name="user",
            field=models.OneToOneField(
                error_messages={"unique": "This clinician already has a practitioner profile."},
                on_delete=django.db.models.deletion.PROTECT,
                related_name="practitioner",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="practitioner",
            name="npi",
            field=models.CharField(
                error_messages={"unique": "Another practitioner already has this NPI."},
                max_length=10,
                unique=True,
                validators=[accounts.validators.validate_npi],
                verbose_name="NPI",
            ),
        ),
        migrations.AlterConstraint(
            model_name="practitioner",
            name="practitioner_npi_10_digits",
            constraint=models.CheckConstraint(
                condition=models.Q(("npi__regex", "^\\d{10}$")),
                name="practitioner_npi_10_digits",
                violation_error_message="An NPI is exactly 10 digits.",
            ),
        ),
        migrations.AlterConstraint(
            model_name="practitioner",
            name="practitioner_dea_shape",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("dea_number", ""), ("dea_number__regex", "^[A-Z][A-Z9]\\d{7}$"), _connector="OR"
                ),
                name="practitioner_dea_shape",
                violation_error_message="A DEA number is two capital letters and seven digits, e.g. AB1234563.",
            ),
        ),
    ]
