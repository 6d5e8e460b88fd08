"""Admin for patient data goes through the same door as every view: selectors for reads, services for writes.

Who sees a patient here: whoever may see its demographics (patients.access.visible_patients), and a practice admin
for the patients of their departments, whose identity (MRN, name, date of birth) they see in order to run the care
team, nothing more. Every list and every opened patient is recorded; anyone else gets a 404.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record

from . import selectors, services
from .models import CareTeamMember, Department, Patient, Payer


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name"]
    filter_horizontal = ["members"]
    search_fields = ["name"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            # Staff only: clinicians of other systems, known from imported records, are not staff accounts.
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(external_clinician__isnull=True)
                .order_by("last_name", "first_name", "username")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    """The insurers the registration form offers (no patient data here)."""

    list_display = ["name", "payer_id", "active"]
    list_filter = ["active"]
    search_fields = ["name", "payer_id"]


class CareTeamMemberInline(admin.TabularInline):
    """Add or remove care-team members; saving goes through patients.services (PatientAdmin.save_formset), so
    the same rules apply as on the chart (a practice admin may add clinical members, front desk may not)."""

    model = CareTeamMember
    fields = ["user", "group", "care_role"]
    extra = 1
    verbose_name = "care-team member"

    def get_queryset(self, request):
        return selectors.care_team_members()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(
                    is_active=True,
                    groups__name__in=[roles.Role.CLINICIAN, roles.Role.NURSE, roles.Role.FRONT_DESK],
                )
                .distinct()
                .order_by("last_name", "first_name")
            )
        elif db_field.name == "group":
            kwargs["queryset"] = Group.objects.exclude(name__in=list(roles.ROLES)).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _manages(self, obj) -> bool:
        return obj is not None and obj.access.can_manage_care_team

    def has_view_permission(self, request, obj=None):
        return obj is not None

    def has_add_permission(self, request, obj=None):
        return self._manages(obj)

    def has_change_permission(self, request, obj=None):
        return False  # a member's role is changed by removing and adding them: both are recorded

    def has_delete_permission(self, request, obj=None):
        return self._manages(obj)


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["mrn", "family_name", "given_name", "birth_date", "sex_at_birth", "department"]
    search_fields = ["mrn"]
    list_filter = ["department"]
    fields = [
        "mrn",
        "given_name",
        "middle_name",
        "family_name",
        "preferred_name",
        "birth_date",
        "sex_at_birth",
        "gender_identity",
        "pronouns",
        "preferred_language",
        "deceased_date",
        "department",
    ]
    readonly_fields = ["mrn"]
    inlines = [CareTeamMemberInline]
    list_per_page = 50

    def get_queryset(self, request):
        request.audit_channel = "admin"
        return selectors.admin_patients(request.user).select_related("department")

    def get_object(self, request, object_id, from_field=None):
        # Http404 for outsiders (and a denied event), exactly as on the chart.
        request.audit_channel = "admin"
        return selectors.patient_get_administered(actor=request.user, patient_id=object_id, request=request)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.access.can_edit_demographics:
            return self.fields  # a practice admin runs the care team, never the record
        return self.readonly_fields

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:
            access_record(
                actor=request.user,
                action=Action.LIST,
                category=categories.PATIENT_LIST,
                patient_ids=[p.pk for p in cl.result_list],
                request=request,
            )
        return response

    def has_add_permission(self, request):
        return False  # registration runs duplicate detection: use the registration page

    def has_delete_permission(self, request, obj=None):
        return False  # patient records are never deleted; merge duplicates instead

    def has_module_permission(self, request):
        return roles.admin_site_allowed(request.user)

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return roles.admin_site_allowed(request.user)
        return obj.access.has(roles.VIEW_DEMOGRAPHICS) or obj.access.administers

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return roles.admin_site_allowed(request.user)
        return obj.access.can_edit_demographics or obj.access.can_manage_care_team

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in form.cleaned_data}
        if data:
            services.patient_update(actor=request.user, patient_id=obj.pk, data=data, request=request)

    def save_formset(self, request, form, formset, change):
        if formset.model is not CareTeamMember:
            return super().save_formset(request, form, formset, change)
        patient = form.instance
        formset.save(commit=False)
        try:
            for member in formset.deleted_objects:
                services.care_team_remove(
                    actor=request.user, patient_id=patient.pk, member_id=member.pk, request=request
                )
            for member in formset.new_objects:
                services.care_team_add(
                    actor=request.user,
                    patient_id=patient.pk,
                    user=member.user,
                    group=member.group,
                    care_role=member.care_role,
                    request=request,
                )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
