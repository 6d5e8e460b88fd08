"""The admin for practice admins: staff accounts, their roles, practitioner profiles.

The site is django-otp's OTPAdminSite (ehr/urls.py): only staff with a verified second factor get in. A practice
admin is staff with the practice_admin role's model permissions, never a superuser, so the forms below keep the
levers that could raise anyone above a role (superuser, single permissions, one's own roles) for superusers.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from .models import Practitioner
from .roles import ROLES, Role

User = get_user_model()


def _admin_login(request, extra_context=None):
    """Everyone signs in through the same door (password, then second factor), the admin included.

    The OTPAdminSite's own login form asks for a device and token on one page and skips our lockout
    message and enrolment; signed-in users who are not allowed in get a plain 403 instead of a loop.
    """
    if request.user.is_authenticated:
        raise PermissionDenied
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"), settings.LOGIN_URL)


admin.site.login = _admin_login


class RolesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        spec = ROLES.get(obj.name)
        return spec.label if spec else obj.name


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "first_name",
        "last_name",
        "email",
        "role_list",
        "is_active",
        "is_staff",
        "last_login",
    ]
    list_filter = ["groups", "is_active", "is_staff"]
    search_fields = [
        "username",
        "first_name",
        "last_name",
        "email",
    ]  # PractitionerAdmin autocompletes on these
    ordering = ["username"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Person", {"fields": ["first_name", "last_name", "email"]}),
        (
            "Access",
            {
                "fields": ["is_active", "is_staff", "groups"],
                "description": "Unticking Active signs the person out everywhere at once. Staff may open this "
                "admin (with two-step verification); what they can change comes from their roles.",
            },
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    superuser_fieldsets = [
        *fieldsets[:2],
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        fieldsets[3],
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "groups",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]
    readonly_fields = ["last_login", "date_joined"]

    @admin.display(description="Roles")
    def role_list(self, obj):
        return ", ".join(ROLES[g.name].label for g in obj.groups.all() if g.name in ROLES)

    def get_queryset(self, request):
        qs = super().get_queryset(request).prefetch_related("groups")
        # A practice admin cannot see, and so cannot change, a superuser's account.
        return qs if request.user.is_superuser else qs.filter(is_superuser=False)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        return self.superuser_fieldsets if request.user.is_superuser else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # Segregation of duties: nobody but a superuser changes their own roles (e.g. becomes privacy officer).
        if obj is not None and obj.pk == request.user.pk and not request.user.is_superuser:
            fields += ["groups", "is_staff", "is_active"]
        return fields

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = Group.objects.filter(name__in=list(ROLES)).order_by("name")
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["form_class"] = RolesField
            kwargs["help_text"] = "See docs/roles.md for what each role may do."
            field = super().formfield_for_manytomany(db_field, request, **kwargs)
            field.label = "Roles"
            return field
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "npi", "dea_number", "dea_expires", "specialty"]
    search_fields = ["user__username", "user__last_name", "npi"]
    list_select_related = ["user"]
    fields = ["user", "credentials", "specialty", "npi", "dea_number", "dea_expires", "phone"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # Only clinicians carry a practitioner profile (NPI, DEA): it is what lets them sign and prescribe.
            kwargs["queryset"] = User.objects.filter(groups__name=Role.CLINICIAN, is_active=True).order_by(
                "last_name", "first_name"
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
