# Written by hand: makemigrations cannot resolve django-oauth-toolkit's swappable token model when settings do not
# name it (OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL), so the dependency is on the toolkit's own migrations instead.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        ("patients", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PatientLaunchContext",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="patients.patient"
                    ),
                ),
                (
                    "token",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="fhir_launch",
                        swappable=False,
                        to="oauth2_provider.accesstoken",
                    ),
                ),
            ],
        ),
    ]
