"""Admin for the practice's scheduling reference data (no patient data here: that goes through the chart pages)."""

from django.contrib import admin

from .models import AppointmentType, Location, Room, TimeOff, WorkingHours


class RoomInline(admin.TabularInline):
    model = Room
    extra = 1


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "active"]
    list_filter = ["active"]
    inlines = [RoomInline]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "duration_minutes", "colour", "modality", "offered"]
    list_filter = ["offered"]


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "weekday",
        "start_time",
        "end_time",
        "location",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["provider", "weekday"]


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ["provider", "kind", "start", "end", "reason"]
