"""Input validation only; the rules that matter (quantity, refills, schedule II) are re-checked in services."""

from django import forms

from . import ncpdp
from .models import DoseUnit, Frequency, Pharmacy, Route


class PrescriptionForm(forms.Form):
    medication_id = forms.IntegerField(
        widget=forms.HiddenInput, error_messages={"required": "Pick a drug from the catalog."}
    )
    dose = forms.DecimalField(min_value=0.001, max_digits=8, decimal_places=3, initial=1)
    dose_unit = forms.ChoiceField(choices=DoseUnit.choices, initial=DoseUnit.TABLET)
    route = forms.ChoiceField(choices=Route.choices, initial=Route.PO)
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.QD)
    duration_days = forms.IntegerField(min_value=1, max_value=365, required=False)
    as_needed = forms.BooleanField(required=False, label="As needed (PRN)")
    as_needed_reason = forms.CharField(max_length=100, required=False, label="As needed for")
    quantity = forms.DecimalField(max_digits=10, decimal_places=3, help_text="Total to dispense")
    quantity_unit = forms.ChoiceField(
        choices=sorted(ncpdp.QUANTITY_UNITS.items(), key=lambda i: i[1]), initial="C48542"
    )
    days_supply = forms.IntegerField(min_value=1, max_value=999, required=False)
    refills = forms.IntegerField(min_value=0, initial=0)
    substitution_allowed = forms.BooleanField(required=False, initial=True, label="Substitution allowed")
    diagnosis = forms.RegexField(
        regex=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$",
        required=False,
        label="Diagnosis (ICD-10-CM)",
        max_length=10,
    )
    note_to_pharmacist = forms.CharField(
        max_length=210, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    pharmacy = forms.ModelChoiceField(queryset=Pharmacy.objects.all(), required=False)


class SignForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password (re-authentication)",
    )
    totp_code = forms.CharField(
        max_length=8,
        required=False,
        label="Authenticator code (controlled substance)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class DenyForm(forms.Form):
    reason_code = forms.ChoiceField(choices=sorted(ncpdp.CHANGE_DENIAL_CODES.items()))
    note = forms.CharField(max_length=200, required=False)
