from django.contrib import admin

from .models import Practitioner


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "npi", "dea_number", "specialty"]
    search_fields = ["user__username", "user__last_name", "npi"]
    autocomplete_fields = ["user"]
