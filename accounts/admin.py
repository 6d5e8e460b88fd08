"""The admin for practice admins: staff accounts, their roles, practitioner profiles.

Who gets in is decided by the role, not by the is_staff flag: practice admins and superusers, each with a verified
second factor (PracticeAdminSite below). A practice admin is never a superuser, so the forms below keep for
superusers the levers that could raise anyone above a role or take over an account: superuser status, single
permissions, the practice admin and privacy officer roles, one's own roles, passwords and e-mail addresses.
A practice admin sends a password-reset email instead; the person chooses their own password.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UsernameField
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django_otp.admin import OTPAdminSite
from oauth2_provider.admin import ApplicationAdmin  # the toolkit's admin registers itself on import
from oauth2_provider.models import get_application_model

from .models import Practitioner, ServiceAccount
from .oauth_clients import application_check
from .roles import ROLES, ROLES_A_PRACTICE_ADMIN_ASSIGNS, Role, admin_site_allowed
from .services import password_reset_send

User = get_user_model()


class PracticeAdminSite(OTPAdminSite):
    """django-otp's admin site (a verified second factor), opened by role: practice admins and superusers.

    Django's own rule (is_active and is_staff) is replaced, so a nurse someone made "staff" is refused and a
    practice admin needs no flag ticked by hand. The nav's "Admin" link asks the same question (admin_site_allowed).
    """

    def has_permission(self, request):
        return admin_site_allowed(request.user) and request.user.is_verified()


# The default site object is the one every app registered its ModelAdmins with: change its class, keep the object.
admin.site.__class__ = PracticeAdminSite


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


class StaffAddForm(forms.ModelForm):
    """A practice admin's form for a new account: no password (the person sets it from the emailed link)."""

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "groups"]
        field_classes = {"username": UsernameField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = "The link to choose a password is sent here."

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
            self.save_m2m()
        return user


admin.site.unregister(User)


class AccountKindFilter(admin.SimpleListFilter):
    """Staff accounts by default: clinicians of other systems, made by the FHIR import so imported records can name
    them (ExternalClinician; inactive, never sign in), are listed only when asked for."""

    title = "kind of account"
    parameter_name = "kind"
    STAFF, OUTSIDE, ALL = "staff", "outside", "all"

    def lookups(self, request, model_admin):
        return [
            (self.STAFF, "Staff accounts"),
            (self.OUTSIDE, "Outside clinicians (imported)"),
            (self.ALL, "All"),
        ]

    def choices(self, changelist):
        current = self.value() or self.STAFF
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or self.STAFF
        if value == self.OUTSIDE:
            return queryset.filter(external_clinician__isnull=False)
        if value == self.ALL:
            return queryset
        return queryset.filter(external_clinician__isnull=True)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "first_name",
        "last_name",
        "email",
        "role_list",
        "is_active",
        "last_login",
    ]
    list_filter = [AccountKindFilter, "groups", "is_active"]
    search_fields = [
        "username",
        "first_name",
        "last_name",
        "email",
    ]  # PractitionerAdmin autocompletes on these
    ordering = ["username"]
    actions = ["send_password_reset"]
    access_description = (
        "Unticking Active signs the person out everywhere at once. The roles decide what the person may do; "
        "practice admins (and superusers) may open this admin, with two-step verification."
    )
    fieldsets = [
        (None, {"fields": ["username"]}),
        ("Person", {"fields": ["first_name", "last_name", "email"]}),
        ("Access", {"fields": ["is_active", "groups", "other_roles"], "description": access_description}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    superuser_fieldsets = [
        (None, {"fields": ["username", "password"]}),
        fieldsets[1],
        (
            "Access",
            {
                "fields": ["is_active", "is_superuser", "groups", "user_permissions"],
                "description": access_description + " Staff status follows the roles.",
            },
        ),
        fieldsets[3],
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["username", "first_name", "last_name", "email", "groups"],
                "description": "The person receives an email with a link to choose their password.",
            },
        ),
    ]
    superuser_add_fieldsets = [
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
    readonly_fields = ["last_login", "date_joined", "other_roles"]

    @admin.display(description="Roles")
    def role_list(self, obj):
        return ", ".join(ROLES[g.name].label for g in obj.groups.all() if g.name in ROLES)

    @admin.display(description="Roles only a superuser assigns")
    def other_roles(self, obj):
        names = [g.name for g in obj.groups.all() if g.name not in ROLES_A_PRACTICE_ADMIN_ASSIGNS]
        return ", ".join(ROLES[n].label if n in ROLES else n for n in sorted(names)) or "none"

    def get_queryset(self, request):
        qs = super().get_queryset(request).prefetch_related("groups")
        # A practice admin cannot see, and so cannot change, a superuser's account.
        return qs if request.user.is_superuser else qs.filter(is_superuser=False)

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete pickers (a practitioner profile's user) offer staff only, never an imported outside
        # clinician; the list page filters through AccountKindFilter instead.
        qs, distinct = super().get_search_results(request, queryset, search_term)
        if request.path.endswith("/autocomplete/"):
            qs = qs.filter(external_clinician__isnull=True)
        return qs, distinct

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return self.superuser_add_fieldsets if obj is None else self.superuser_fieldsets
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = StaffAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            # The address receives password-reset links: whoever could change it could take the account over.
            fields.append("email")
            # Segregation of duties: nobody but a superuser changes their own roles (e.g. becomes privacy officer).
            if obj.pk == request.user.pk:
                fields += ["groups", "is_active"]
        return fields

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            assignable = list(ROLES) if request.user.is_superuser else list(ROLES_A_PRACTICE_ADMIN_ASSIGNS)
            kwargs["queryset"] = Group.objects.filter(name__in=assignable).order_by("name")
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["form_class"] = RolesField
            kwargs["help_text"] = "See docs/roles.md for what each role may do."
            field = super().formfield_for_manytomany(db_field, request, **kwargs)
            field.label = "Roles"
            return field
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            transaction.on_commit(lambda: password_reset_send(user=obj, request=request, new_account=True))

    def save_related(self, request, form, formsets, change):
        # The roles form of a practice admin lists only the roles they assign; keep the others the person holds
        # (practice admin, privacy officer) instead of silently removing them.
        if change and "groups" in form.cleaned_data and not request.user.is_superuser:
            kept = list(form.instance.groups.exclude(name__in=ROLES_A_PRACTICE_ADMIN_ASSIGNS))
            form.cleaned_data["groups"] = [*form.cleaned_data["groups"], *kept]
        super().save_related(request, form, formsets, change)

    def user_change_password(self, request, id, form_url=""):
        # Setting someone's password is taking over their account: superusers only. Others send a reset email.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.action(description="Send a password reset email", permissions=["change"])
    def send_password_reset(self, request, queryset):
        sent, skipped = [], []
        for user in queryset:
            if user.is_active and user.email:
                password_reset_send(user=user, request=request)
                self.log_change(request, user, "Sent a password reset email.")
                sent.append(user.get_username())
            else:
                skipped.append(user.get_username())
        if sent:
            messages.success(request, f"Password reset email sent to {', '.join(sent)}.")
        if skipped:
            messages.warning(request, f"Not sent (inactive or no email address): {', '.join(skipped)}.")


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


# --- OAuth applications (issue 18 #1): made here by superusers, or by `manage.py oauth_client_create` -------------
_Application = get_application_model()
admin.site.unregister(_Application)


@admin.register(_Application)
class OAuthApplicationAdmin(ApplicationAdmin):
    """The toolkit's page, with our rule: a client-credentials app belongs to a service account. Practice admins hold
    no permission on applications, so only superusers reach it. Saves are audited (django-auditlog, accounts/apps.py).
    """

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)

        class CheckedForm(form_class):
            def clean(self):
                cleaned = super().clean()
                probe = _Application(
                    authorization_grant_type=cleaned.get("authorization_grant_type") or "",
                    user=cleaned.get("user"),
                )
                try:
                    application_check(probe)
                except ValidationError as exc:
                    for field, messages_ in exc.message_dict.items():
                        self.add_error(field if field in self.fields else None, messages_)
                return cleaned

        return CheckedForm


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    """Read-only list of service accounts (superusers); they are made by `manage.py oauth_client_create`."""

    list_display = ["user", "purpose", "created_at"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
