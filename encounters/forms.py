"""Input validation only; the services decide."""

from django import forms
from django.contrib.auth import get_user_model

from . import vitals
from .models import AllergyCategory, AllergyCriticality, AllergySeverity, AppointmentType, EncounterType, Room


def _providers():
    return get_user_model().objects.filter(is_active=True, practitioner__isnull=False).order_by("last_name")


class BookForm(forms.Form):
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = _providers()
        self.fields["provider"].label_from_instance = lambda u: u.get_full_name() or u.username


class MoveForm(forms.Form):
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    scope = forms.ChoiceField(
        choices=[("this", "This one"), ("following", "This and following"), ("all", "All future")],
        initial="this",
    )


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200)
    scope = forms.ChoiceField(
        choices=[("this", "This one"), ("following", "This and following"), ("all", "All future")],
        initial="this",
    )


class WaitlistForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=None)
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.all())
    earliest = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    latest = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = _providers()
        self.fields["provider"].label_from_instance = lambda u: u.get_full_name() or u.username


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


class AllergyForm(forms.Form):
    substance_text = forms.CharField(max_length=200, label="Substance")
    category = forms.ChoiceField(choices=AllergyCategory.choices)
    criticality = forms.ChoiceField(choices=AllergyCriticality.choices)
    severity = forms.ChoiceField(choices=[("", "\u2014"), *AllergySeverity.choices], required=False)
    reaction = forms.CharField(max_length=200, required=False)


class MedicationForm(forms.Form):
    name = forms.CharField(max_length=300)
    dose_text = forms.CharField(max_length=200, required=False, label="Dose")
