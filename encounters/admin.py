"""Admin for the practice's documentation reference data (no patient data here: that goes through the chart
pages)."""

from django.contrib import admin

from .models import ClinicUnits, NoteTemplate


@admin.register(NoteTemplate)
class NoteTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "encounter_type", "active"]
    list_filter = ["encounter_type", "active"]


@admin.register(ClinicUnits)
class ClinicUnitsAdmin(admin.ModelAdmin):
    """The one row of the clinic's units for vital signs (US units until changed)."""

    list_display = ["__str__", "temperature", "weight", "height"]

    def has_add_permission(self, request):
        return not ClinicUnits.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
