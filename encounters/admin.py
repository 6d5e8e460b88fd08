"""Admin for the practice's documentation reference data (no patient data here: that goes through the chart
pages)."""

from django.contrib import admin

from .models import NoteTemplate


@admin.register(NoteTemplate)
class NoteTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "encounter_type", "active"]
    list_filter = ["encounter_type", "active"]
