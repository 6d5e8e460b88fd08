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


# The hidden unit fields carry a short key, not the UCUM code (no "[degF]" in a page, even hidden).
UNIT_KEYS = {"[degF]": "F", "Cel": "C", "[lb_av]": "lb", "kg": "kg", "[in_i]": "in", "cm": "cm"}
_UCUM_OF = {k: u for u, k in UNIT_KEYS.items()}


def _unit_choices(field: str) -> list[tuple[str, str]]:
    return [(UNIT_KEYS[u], vitals.unit_label(u)) for u in vitals.CONVERTIBLE[field]]


class VitalsForm(forms.Form):
    """Vital signs as typed, temperature, weight and height in the clinic's units (`units`: field -> UCUM code,
    ClinicUnits.as_dict()). The units shown travel with the form, so what was typed is read in the unit shown."""

    systolic = forms.IntegerField(required=False, label="Systolic (mmHg)")
    diastolic = forms.IntegerField(required=False, label="Diastolic (mmHg)")
    heart_rate = forms.IntegerField(required=False, label="Heart rate (/min)")
    resp_rate = forms.IntegerField(required=False, label="Resp. rate (/min)")
    temperature = forms.DecimalField(required=False, max_digits=5, decimal_places=2)
    weight = forms.DecimalField(required=False, max_digits=6, decimal_places=2)
    height = forms.DecimalField(required=False, max_digits=5, decimal_places=2)
    spo2 = forms.IntegerField(required=False, label="SpO\u2082 (%)")
    temperature_unit = forms.ChoiceField(choices=_unit_choices("temperature"), required=False)
    weight_unit = forms.ChoiceField(choices=_unit_choices("weight"), required=False)
    height_unit = forms.ChoiceField(choices=_unit_choices("height"), required=False)

    _LABELS = {"temperature": "Temp", "weight": "Weight", "height": "Height"}

    def __init__(self, *args, units: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic_units = units
        posted = self.data if self.is_bound else {}
        for f, label in self._LABELS.items():
            unit = _UCUM_OF.get(posted.get(f"{f}_unit", ""), units[f])
            self.fields[f].label = f"{label} ({vitals.unit_label(unit)})"
            self.fields[f"{f}_unit"].initial = UNIT_KEYS[units[f]]
            self.fields[f"{f}_unit"].widget = forms.HiddenInput()
            self.fields[f].widget.attrs.update({"inputmode": "decimal", "step": "any"})

    def units(self) -> dict:
        # A post without the units (an older form, a script) is read in the clinic's units, as the form shows.
        return {
            f: _UCUM_OF.get(self.cleaned_data.get(f"{f}_unit") or "", self.clinic_units[f])
            for f in self._LABELS
        }

    def values(self) -> dict:
        return {f: v for f, v in self.cleaned_data.items() if not f.endswith("_unit")}

    def clean(self):
        data = super().clean()
        measured = {k: v for k, v in data.items() if v is not None and not k.endswith("_unit")}
        for field, msg in vitals.impossible(measured, self.units()).items():
            self.add_error(field, msg)
        return data

    def visible(self):
        return [f for f in self if not f.is_hidden]


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
