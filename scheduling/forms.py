"""Input validation only; the services decide."""

from django import forms
from django.core.exceptions import ValidationError

from . import recurrence, selectors
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
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Clinic local time, or click a free slot",
    )
    room = forms.ModelChoiceField(
        queryset=Room.objects.filter(active=True, location__active=True).select_related("location"),
        required=False,
    )
    reason = forms.CharField(max_length=200, required=False)
    # Recurrence in plain words, turned into an RFC 5545 rule (recurrence.rrule_weekly) in clean().
    repeat = forms.BooleanField(required=False, label="Repeat this visit")
    every = forms.IntegerField(
        label="Every (weeks)", min_value=1, max_value=recurrence.MAX_INTERVAL_WEEKS, initial=1, required=False
    )
    on_days = forms.MultipleChoiceField(
        label="On", choices=recurrence.WEEKDAYS, widget=forms.CheckboxSelectMultiple, required=False
    )
    ends = forms.ChoiceField(
        label="Ends",
        choices=[("count", "After a number of visits"), ("until", "On a date")],
        widget=forms.RadioSelect,
        initial="count",
        required=False,
    )
    count = forms.IntegerField(
        label="Number of visits", min_value=2, max_value=recurrence.MAX_COUNT, required=False
    )
    until = forms.DateField(label="Last date", widget=forms.DateInput(attrs={"type": "date"}), required=False)
    REPEAT_FIELDS = ("every", "on_days", "ends", "count", "until")
    field_order = [
        "provider",
        "appointment_type",
        "start",
        "room",
        "reason",
        "override",
        "override_reason",
        "repeat",
        *REPEAT_FIELDS,
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _provider_field(self)

    def clean(self):
        data = super().clean()
        data["rrule"] = ""
        if data.get("repeat") and not any(f in self.errors for f in self.REPEAT_FIELDS):
            self._clean_repeat(data)
        return data

    def _clean_repeat(self, data) -> None:
        ends = data.get("ends") or "count"
        count = data.get("count") if ends == "count" else None
        until = data.get("until") if ends == "until" else None
        if ends == "count" and count is None:
            self.add_error("count", "Enter how many visits the series has.")
            return
        if ends == "until" and until is None:
            self.add_error("until", "Enter the date of the last visit.")
            return
        start = data.get("start")
        days = data.get("on_days") or []
        if start is not None and days:
            code = recurrence.WEEKDAYS[start.weekday()][0]
            if code not in days:
                self.add_error(
                    "on_days",
                    f"The first visit is on a {start:%A}, which is not one of the chosen days: tick "
                    f"{start:%A} too or change the start.",
                )
                return
            if until is not None and until < start.date():
                self.add_error("until", "The last date is before the first visit.")
                return
        try:
            data["rrule"] = recurrence.rrule_weekly(
                every=data.get("every") or 1, days=days, count=count, until=until
            )
        except ValidationError as exc:
            for field, errs in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errs)


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
