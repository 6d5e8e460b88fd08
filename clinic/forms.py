"""Input checking for the clinic settings pages; the services write."""

from __future__ import annotations

from itertools import pairwise

from django import forms

from encounters.models import ClinicUnits, NoteTemplate
from scheduling.models import AppointmentType, Location

from . import selectors
from .services import Block

BLOCKS_PER_DAY = 3


class LocationForm(forms.ModelForm):
    class Meta:
        model = Location
        fields = ["name", "address"]
        labels = {"name": "Name", "address": "Street address"}
        error_messages = {"name": {"unique": "There is already a location with that name."}}


class RoomForm(forms.Form):
    name = forms.CharField(max_length=60, label="Room name")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the room a name.")
        return name


class AppointmentTypeForm(forms.ModelForm):
    encounter_type = forms.ChoiceField(
        choices=selectors.VISIT_TYPES,
        label="Opens a visit of type",
        help_text="The kind of visit checking in opens; its note templates are offered first.",
    )

    class Meta:
        model = AppointmentType
        fields = ["name", "duration_minutes", "colour", "modality", "encounter_type", "offered"]
        labels = {
            "duration_minutes": "Length (minutes)",
            "colour": "Colour on the calendar",
            "modality": "How it happens",
            "offered": "Offered when booking",
        }
        help_texts = {"offered": "Untick to stop booking this type; visits already booked keep it."}
        error_messages = {"name": {"unique": "There is already an appointment type with that name."}}

    def clean_duration_minutes(self):
        minutes = self.cleaned_data["duration_minutes"]
        if minutes is not None and not 5 <= minutes <= 480:
            raise forms.ValidationError("An appointment lasts between 5 minutes and 8 hours (480 minutes).")
        return minutes


class NoteTemplateForm(forms.ModelForm):
    encounter_type = forms.ChoiceField(choices=selectors.VISIT_TYPES, label="Visit type")

    class Meta:
        model = NoteTemplate
        fields = ["name", "encounter_type", "subjective", "objective", "assessment", "plan", "active"]
        labels = {"active": "Offered when a note is started"}
        widgets = {
            f: forms.Textarea(attrs={"rows": 4}) for f in ("subjective", "objective", "assessment", "plan")
        }


class UnitsForm(forms.ModelForm):
    class Meta:
        model = ClinicUnits
        fields = ["temperature", "weight", "height"]
        widgets = {f: forms.RadioSelect for f in fields}
        labels = {"temperature": "Temperature", "weight": "Weight", "height": "Height"}


class HoursGridForm(forms.Form):
    """A provider's week: for each day up to BLOCKS_PER_DAY blocks of start, end and location. An empty block is
    ignored; a half-filled one, an end not after its start, or two blocks of one day that overlap are refused
    with the day named, and everything typed is shown again."""

    def __init__(self, *args, provider_rows=(), default_location=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.day_errors: dict[int, list[str]] = {}
        locations = selectors.active_locations()
        by_day: dict[int, list] = {}
        for row in provider_rows:
            by_day.setdefault(row.weekday, []).append(row)
        # One empty block beyond the busiest day's, at least BLOCKS_PER_DAY (the model has no limit per day).
        self.blocks_per_day = max([BLOCKS_PER_DAY] + [len(v) + 1 for v in by_day.values()])
        for day in range(7):
            rows = by_day.get(day, [])
            for k in range(self.blocks_per_day):
                row = rows[k] if k < len(rows) else None
                name = selectors.WEEKDAYS[day]
                self.fields[f"d{day}_{k}_start"] = forms.TimeField(
                    required=False,
                    label=f"{name}, block {k + 1}: start",
                    initial=row.start_time if row else None,
                    widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                )
                self.fields[f"d{day}_{k}_end"] = forms.TimeField(
                    required=False,
                    label=f"{name}, block {k + 1}: end",
                    initial=row.end_time if row else None,
                    widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                )
                self.fields[f"d{day}_{k}_location"] = forms.ModelChoiceField(
                    queryset=locations,
                    required=False,
                    label=f"{name}, block {k + 1}: location",
                    initial=(row.location_id if row else getattr(default_location, "pk", None)),
                    empty_label="Location\u2026",
                )

    def grid(self) -> list[dict]:
        out = []
        for day in range(7):
            blocks = [
                {
                    "start": self[f"d{day}_{k}_start"],
                    "end": self[f"d{day}_{k}_end"],
                    "location": self[f"d{day}_{k}_location"],
                }
                for k in range(self.blocks_per_day)
            ]
            out.append(
                {
                    "day": day,
                    "name": selectors.WEEKDAYS[day],
                    "blocks": blocks,
                    "errors": self.day_errors.get(day, []),
                }
            )
        return out

    def _day_error(self, day: int, message: str) -> None:
        self.day_errors.setdefault(day, []).append(message)

    def clean(self):
        data = super().clean()
        blocks: list[Block] = []
        for day in range(7):
            name = selectors.WEEKDAYS[day]
            day_blocks = []
            for k in range(self.blocks_per_day):
                if any(f"d{day}_{k}_{p}" in self.errors for p in ("start", "end", "location")):
                    self._day_error(day, f"{name}, block {k + 1}: type times as HH:MM, e.g. 08:30.")
                    continue
                start, end = data.get(f"d{day}_{k}_start"), data.get(f"d{day}_{k}_end")
                location = data.get(f"d{day}_{k}_location")
                if start is None and end is None:
                    continue  # an empty block; a location alone means nothing
                if start is None or end is None:
                    self._day_error(day, f"{name}, block {k + 1}: give both a start and an end.")
                    continue
                if end <= start:
                    self._day_error(
                        day,
                        f"{name}, block {k + 1}: the end ({end:%H:%M}) must be after the start ({start:%H:%M}).",
                    )
                    continue
                if location is None:
                    self._day_error(day, f"{name}, block {k + 1}: choose where the hours are worked.")
                    continue
                day_blocks.append(Block(day, start, end, location.pk))
            day_blocks.sort()
            for a, b in pairwise(day_blocks):
                if b.start < a.end:
                    self._day_error(
                        day,
                        f"{name}: {a.start:%H:%M}\u2013{a.end:%H:%M} and {b.start:%H:%M}\u2013{b.end:%H:%M} overlap. "
                        "A provider can be in one place at a time; change one of them.",
                    )
            blocks += day_blocks
        if self.day_errors:
            raise forms.ValidationError("Some days need a correction; nothing was saved.")
        data["blocks"] = blocks
        return data
