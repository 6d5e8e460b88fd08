"""Input validation only; the services decide."""

from django import forms
from django.urls import reverse

from . import cvx, vitals
from .models import (
    AllergyCategory,
    AllergyCriticality,
    AllergySeverity,
    AllergyStatus,
    EncounterType,
    MedicationStatus,
    ProblemStatus,
)


class EncounterStartForm(forms.Form):
    encounter_type = forms.ChoiceField(choices=EncounterType.choices)
    reason = forms.CharField(max_length=200, required=False)


class NoteForm(forms.Form):
    subjective = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    objective = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    assessment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    plan = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)


class VitalsForm(forms.Form):
    systolic = forms.IntegerField(required=False, label="Systolic (mmHg)")
    diastolic = forms.IntegerField(required=False, label="Diastolic (mmHg)")
    heart_rate = forms.IntegerField(required=False, label="Heart rate (/min)")
    resp_rate = forms.IntegerField(required=False, label="Resp. rate (/min)")
    temperature = forms.DecimalField(required=False, max_digits=4, decimal_places=1, label="Temp (\u00b0C)")
    weight = forms.DecimalField(required=False, max_digits=5, decimal_places=1, label="Weight (kg)")
    height = forms.DecimalField(required=False, max_digits=4, decimal_places=1, label="Height (cm)")
    spo2 = forms.IntegerField(required=False, label="SpO\u2082 (%)")

    def clean(self):
        data = super().clean()
        for field, msg in vitals.impossible({k: v for k, v in data.items() if v is not None}).items():
            self.add_error(field, msg)
        return data


class AddendumForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Addendum")


class AmendmentForm(forms.Form):
    requested_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Patient's requested amendment"
    )


class AmendmentDecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("deny", "Deny")])
    decision_reason = forms.CharField(required=False, max_length=1000)


class ProblemForm(forms.Form):
    code = forms.CharField(max_length=10, label="ICD-10-CM code")
    onset_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class ProblemStatusForm(forms.Form):
    status = forms.ChoiceField(choices=ProblemStatus.choices)
    resolved_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class AllergyForm(forms.Form):
    substance_text = forms.CharField(
        max_length=200,
        label="Substance",
        help_text="For a drug, search the catalog below and pick the ingredient; foods and other agents as text.",
    )
    substance_rxcui = forms.CharField(max_length=20, required=False, widget=forms.HiddenInput)
    category = forms.ChoiceField(choices=AllergyCategory.choices)
    criticality = forms.ChoiceField(choices=AllergyCriticality.choices)
    severity = forms.ChoiceField(choices=[("", "\u2014"), *AllergySeverity.choices], required=False)
    reaction = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Typing a drug name searches the medication catalog (htmx); a result fills the name and the RXCUI.
        self.fields["substance_text"].widget.attrs.update(
            {
                "hx-get": reverse("encounters:allergen_search"),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#allergen-results",
                "hx-swap": "outerHTML",
                "autocomplete": "off",
            }
        )


class AllergyStatusForm(forms.Form):
    status = forms.ChoiceField(choices=AllergyStatus.choices)


class MedicationForm(forms.Form):
    name = forms.CharField(max_length=300)
    dose_text = forms.CharField(max_length=200, required=False, label="Dose")


class MedicationStopForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            (s.value, s.label)
            for s in (MedicationStatus.STOPPED, MedicationStatus.COMPLETED, MedicationStatus.ERROR)
        ],
        initial=MedicationStatus.STOPPED,
    )
    stopped_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class ImmunizationForm(forms.Form):
    vaccine_code = forms.ChoiceField(
        label="Vaccine (CVX)", choices=[("", "\u2014 choose \u2014"), *cvx.cvx_choices()]
    )
    occurrence = forms.DateField(label="Date given", widget=forms.DateInput(attrs={"type": "date"}))
    lot_number = forms.CharField(max_length=40, required=False, label="Lot number")
    site = forms.CharField(max_length=60, required=False, help_text="e.g. left deltoid")
    route = forms.CharField(max_length=60, required=False, help_text="e.g. intramuscular")
