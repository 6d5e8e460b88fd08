"""Admin for patient data goes through the same door as every view: visible_patients / patient_get / services."""

from django.contrib import admin
from django.http import Http404

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record

from . import selectors, services
from .access import visible_patients
from .models import Department, Patient


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name"]
    filter_horizontal = ["members"]
    search_fields = ["name"]


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["mrn", "family_name", "given_name", "birth_date", "sex_at_birth", "department"]
    search_fields = ["mrn"]
    list_filter = ["department"]
    fields = ["mrn", "given_name", "middle_name", "family_name", "preferred_name", "birth_date", "sex_at_birth",
              "gender_identity", "pronouns", "preferred_language", "deceased_date", "department"]
    readonly_fields = ["mrn"]
    list_per_page = 50

    def get_queryset(self, request):
        request.audit_channel = "admin"
        return visible_patients(request.user, roles.VIEW_DEMOGRAPHICS).select_related("department")

    def get_object(self, request, object_id, from_field=None):
        request.audit_channel = "admin"
        try:
            return selectors.patient_get(actor=request.user, patient_id=object_id, request=request)
        except Http404:
            return None

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:
            access_record(actor=request.user, action=Action.LIST, category=categories.PATIENT_LIST,
                          patient_ids=[p.pk for p in cl.result_list], request=request)
        return response

    def has_add_permission(self, request):
        return False  # registration runs duplicate detection: use the registration page

    def has_delete_permission(self, request, obj=None):
        return False  # patient records are never deleted; merge duplicates instead

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return request.user.is_active and request.user.is_staff
        return obj.access.can_edit_demographics

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return request.user.is_active and request.user.is_staff
        return obj.access.has(roles.VIEW_DEMOGRAPHICS)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in form.changed_data}
        services.patient_update(actor=request.user, patient_id=obj.pk, data=data, request=request)
