"""Admin for the pharmacy directory and prescribers' SPIs (not patient data). Practice admins edit them (their
role's prescriptions.*_pharmacy / *_prescriberspi permissions, accounts/roles.py); the models' validators and clean() (run by the ModelForm) keep the rules: NCPDP ID 7 digits, NPI check digit, an
http(s) endpoint and accepted message types for an electronic pharmacy."""

from django import forms
from django.contrib import admin

from .models import PHARMACY_MESSAGE_TYPES, Pharmacy, PrescriberSpi


class PharmacyAdminForm(forms.ModelForm):
    accepts = forms.MultipleChoiceField(
        choices=[(t, t) for t in PHARMACY_MESSAGE_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="SCRIPT message types this pharmacy receives electronically; nothing else is ever sent to it.",
    )
    # Write-only: the shared HMAC secret is never shown again; leave blank to keep the current one.
    inbound_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Shared secret for the messages this pharmacy sends us. Leave blank to keep the current one.",
    )

    class Meta:
        model = Pharmacy
        fields = [
            "ncpdp_id",
            "npi",
            "name",
            "address_line",
            "city",
            "state",
            "postal_code",
            "phone",
            "fax",
            "is_electronic",
            "endpoint",
            "accepts",
            "inbound_secret",
        ]

    def clean_inbound_secret(self):
        value = self.cleaned_data.get("inbound_secret")
        return value or (self.instance.inbound_secret if self.instance.pk else "")


@admin.register(Pharmacy)
class PharmacyAdmin(admin.ModelAdmin):
    form = PharmacyAdminForm
    list_display = ["name", "city", "ncpdp_id", "npi", "is_electronic", "accepted_types"]
    search_fields = ["name", "city", "ncpdp_id"]
    list_filter = ["is_electronic", "state"]

    @admin.display(description="Accepts")
    def accepted_types(self, obj):
        return ", ".join(obj.accepts or []) or "—"

    def has_delete_permission(self, request, obj=None):
        return False  # prescriptions point at it (PROTECT): clear "electronic" instead


@admin.register(PrescriberSpi)
class PrescriberSpiAdmin(admin.ModelAdmin):
    list_display = ["user", "spi"]
    search_fields = ["user__username", "user__last_name", "spi"]
    raw_id_fields = ["user"]
