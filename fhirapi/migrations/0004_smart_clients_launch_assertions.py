import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fhirapi", "0003_kept_resources_and_sources"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        ("patients", "0006_chart_version_bulk_switch"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SmartClient",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "launch_uri",
                    models.URLField(
                        blank=True, help_text="EHR launch: opened with ?iss=<FHIR base>&launch=<token>."
                    ),
                ),
                (
                    "jwks",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='Backend services: the client\'s public keys, {"keys": [...]} (JWKS).',
                    ),
                ),
                (
                    "application",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="smart",
                        to="oauth2_provider.application",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="EhrLaunch",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.CharField(max_length=64, unique=True)),
                ("expires_at", models.DateTimeField()),
                ("used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "application",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="oauth2_provider.application",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="patients.patient"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ClientAssertionUse",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("jti", models.CharField(max_length=255)),
                ("client_id", models.CharField(max_length=100)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("client_id", "jti"), name="fhir_client_assertion_once")
                ],
            },
        ),
    ]
