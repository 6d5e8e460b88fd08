"""Input validation only; the services decide."""

from django import forms

from . import selectors
from .models import AppointmentType, Room, TimeOffKind


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
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.filter(offered=True))
    start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="Clinic local time"
    )
    room = forms.ModelChoiceField(
        queryset=Room.objects.filter(active=True, location__active=True).select_related("location"),
        required=False,
    )
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
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.filter(offered=True))
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
