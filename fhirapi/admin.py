"""Admin: SMART client settings, and FHIR Bulk Data export jobs with their progress (read-only: clients start
them, the worker runs them)."""

from django.contrib import admin
from django.utils.html import format_html

from .models import ExportJob, SmartClient


@admin.register(SmartClient)
class SmartClientAdmin(admin.ModelAdmin):
    """SMART settings of an application: its EHR launch URL and (backend services) its public keys (JWKS)."""

    list_display = ("application", "launch_uri")
    raw_id_fields = ("application",)


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "level",
        "group",
        "application",
        "actor",
        "status",
        "progress",
        "expires_at",
    )
    list_filter = ("status", "level")
    ordering = ("-created_at",)
    exclude = ("patient_ids",)
    readonly_fields = (
        "level",
        "group",
        "actor",
        "application",
        "request_url",
        "types",
        "since",
        "status",
        "progress",
        "patients_total",
        "patients_done",
        "output",
        "error",
        "created_at",
        "transaction_time",
        "finished_at",
        "expires_at",
    )

    @admin.display(description="Progress")
    def progress(self, job: ExportJob):
        pct = job.progress_percent
        return format_html(
            '<progress max="100" value="{}" aria-label="export progress">{}%</progress> {}% ({} of {} patients)',
            pct,
            pct,
            pct,
            job.patients_done,
            job.patients_total,
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
