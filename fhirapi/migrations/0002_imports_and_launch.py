# Written by hand for the same reason as 0001 (the toolkit's swappable models are referenced directly).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fhirapi", "0001_initial"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        ("patients", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ImportedRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("source", models.CharField(help_text="The sending system, e.g. its FHIR base URL", max_length=200)),
                ("resource_type", models.CharField(max_length=40)),
                ("source_id", models.CharField(max_length=64)),
                ("target_model", models.CharField(help_text="app_label.model of the row it became", max_length=60)),
                ("target_id", models.CharField(max_length=64)),
                ("imported_at", models.DateTimeField(auto_now=True)),
                (
                    "patient",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="patients.patient",
                    ),
                ),
            ],
            options={
                "permissions": [("import_bundle", "Can import FHIR bundles")],
                "indexes": [models.Index(fields=["target_model", "target_id"], name="imported_record_target")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("source", "resource_type", "source_id"), name="imported_record_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="LaunchGrant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "grant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="fhir_launch",
                        to="oauth2_provider.grant",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="patients.patient"
                    ),
                ),
            ],
        ),
    ]
