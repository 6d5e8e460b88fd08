from django.contrib import admin

from .models import SmartClient


@admin.register(SmartClient)
class SmartClientAdmin(admin.ModelAdmin):
    """SMART settings of an application: its EHR launch URL and (backend services) its public keys (JWKS)."""

    list_display = ("application", "launch_uri")
    raw_id_fields = ("application",)
