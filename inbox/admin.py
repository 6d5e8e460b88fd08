"""Coverage (who gets a clinician's overdue inbox items) is kept by practice admins (their role's inbox.*_coverage
permissions, accounts/roles.py). It holds no patient data."""

from django.contrib import admin

from .models import Coverage


@admin.register(Coverage)
class CoverageAdmin(admin.ModelAdmin):
    list_display = ("clinician", "covering", "team")
    autocomplete_fields = ()
    raw_id_fields = ()
