"""Input validation only; the services decide."""

from django import forms
from django.urls import reverse

from . import cvx, selectors, vitals
from .models import (
    AllergyCategory,
    AllergyCriticality,
    AllergySeverity,
    AllergyStatus,
    AppointmentType,
    EncounterType,
    MedicationStatus,
    ProblemStatus,
    Room,
    TimeOffKind,
)


def _provider_field(form, name="provider"):
    form.fields[name].queryset = selectors.providers_queryset()
    form.fields[name].label_from_instance = lambda u: u.get_full_name() or u.username


class OverrideMixin(forms.Form):
    """The front desk may book outside working hours or in blocked time (never in time off), on purpose."""

    override = forms.BooleanField(required=False, label="Book outside working hours or in blocked time")
    override_reason = forms.CharField(
        max_length=200,
        required=False,
        label="Reason for booking outside the hours",
        help_text="Required to override",
    )

    def clean(self):
        data = super().clean()
        if data.get("override") and not (data.get("override_reason") or "").strip():
            self.add_error("override_reason", "Give the reason for booking outside the provider's hours.")
        if not data.get("override"):
            data["override_reason"] = ""
        return data


class BookForm(OverrideMixin):
    provider = forms.ModelChoiceField(queryset=None)
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.all())
    start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="Clinic local time"
    )
    room = forms.ModelChoiceField(queryset=Room.objects.select_related("location"), required=False)
    reason = forms.CharField(max_length=200, required=False)
    rrule = forms.CharField(
        label="Repeats (RFC 5545 rule)",
        max_length=300,
        required=False,
        help_text="Leave empty for one visit; e.g. FREQ=WEEKLY;COUNT=6",
    )
    field_order = [
        "provider",
        "appointment_type",
        "start",
        "room",
        "reason",
        "rrule",
        "override",
        "override_reason",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _provider_field(self)


SCOPES = [("this", "This one"), ("following", "This and following"), ("all", "All future")]


class MoveForm(OverrideMixin):
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    scope = forms.ChoiceField(choices=SCOPES, initial="this")
    field_order = ["start", "scope", "override", "override_reason"]


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200)
    scope = forms.ChoiceField(choices=SCOPES, initial="this")


class WaitlistForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=None)
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.all())
    earliest = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    latest = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _provider_field(self)

    def clean(self):
        data = super().clean()
        if data.get("earliest") and data.get("latest") and data["latest"] < data["earliest"]:
            self.add_error("latest", "The latest date must not be before the earliest date.")
        return data


class TimeOffForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=None)
    kind = forms.ChoiceField(choices=TimeOffKind.choices, initial=TimeOffKind.TIME_OFF)
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _provider_field(self)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "The end must be after the start.")
        return data


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
