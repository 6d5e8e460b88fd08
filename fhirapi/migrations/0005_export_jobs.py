# Written by hand for the same reason as 0001 (the toolkit's swappable models are referenced directly).
import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fhirapi", "0004_smart_clients_launch_assertions"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        ("patients", "0006_chart_version_bulk_switch"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExportJob",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                (
                    "level",
                    models.CharField(
                        choices=[("system", "System"), ("group", "Group"), ("patient", "Patient")], max_length=10
                    ),
                ),
                ("request_url", models.TextField()),
                ("types", models.JSONField(default=list, help_text="The resource types to export")),
                ("since", models.DateTimeField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                            ("expired", "Expired (files deleted)"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("patients_total", models.PositiveIntegerField(default=0)),
                ("patients_done", models.PositiveIntegerField(default=0)),
                (
                    "patient_ids",
                    models.JSONField(blank=True, default=list, help_text="The patients whose data the files hold"),
                ),
                ("output", models.JSONField(blank=True, default=list, help_text="[{type, file, count}]")),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("transaction_time", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "group",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="patients.department",
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "application",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="oauth2_provider.application",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["status", "expires_at"], name="export_job_expiry")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("patients_done__lte", models.F("patients_total"))),
                        name="export_job_progress",
                    )
                ],
            },
        ),
    ]
