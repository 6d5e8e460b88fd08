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
    # The shape only; the service checks the code against the shipped ICD-10-CM list.
    diagnosis = forms.RegexField(
        regex=r"^[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?$",
        required=False,
        label="Diagnosis (ICD-10-CM)",
        max_length=10,
        error_messages={"invalid": "Enter an ICD-10-CM code, e.g. I10 or E11.9."},
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

    def __init__(self, *args, kind: str = "change", **kwargs):
        super().__init__(*args, **kwargs)
        codes = ncpdp.RENEWAL_DENIAL_CODES if kind == "renewal" else ncpdp.CHANGE_DENIAL_CODES
        self.fields["reason_code"].choices = sorted(codes.items())


class InboxRespondForm(forms.Form):
    """Approve (sign a new prescription) or deny a pharmacy's request; the service checks every rule."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    option = forms.IntegerField(required=False, min_value=0, max_value=8, widget=forms.HiddenInput)
    refills = forms.IntegerField(required=False, min_value=0, max_value=ncpdp.MAX_REFILLS)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password (re-authentication)",
    )
    totp_code = forms.CharField(
        max_length=8,
        required=False,
        label="Authenticator code (controlled substance)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    reason_code = forms.CharField(max_length=3, required=False)
    note = forms.CharField(max_length=200, required=False)
