"""The insurance form (patients/views_coverage.py): one coverage as on the card, photos checked by content."""

import re
from datetime import date

from django import forms
from django.core.exceptions import ValidationError

from .forms import RealDateField, _clean_name


class PayerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return str(obj)


class CoverageForm(forms.Form):
    """One insurance coverage, as on the card. Card photos are checked by content in clean_card_*."""

    payer = PayerChoiceField(
        queryset=None, empty_label="Choose the insurer …", error_messages={"required": "Choose the insurer."}
    )
    order = forms.TypedChoiceField(label="Order", coerce=int, choices=(), initial=1)
    member_id = forms.CharField(label="Member ID", max_length=40)
    group_number = forms.CharField(label="Group number", max_length=40, required=False)
    relationship = forms.ChoiceField(label="Patient's relationship to the subscriber", choices=())
    subscriber_name = forms.CharField(
        label="Subscriber's name",
        max_length=150,
        required=False,
        help_text="Only when the subscriber is not the patient.",
    )
    subscriber_birth_date = RealDateField(label="Subscriber's date of birth", required=False)
    card_front = forms.FileField(
        label="Card photo, front",
        required=False,
        help_text="JPEG or PNG, up to 10 MB.",
        error_messages={"empty": "The front photo is an empty file: choose the photo again."},
    )
    card_back = forms.FileField(
        label="Card photo, back",
        required=False,
        help_text="JPEG or PNG, up to 10 MB.",
        error_messages={"empty": "The back photo is an empty file: choose the photo again."},
    )

    def __init__(self, *args, **kwargs):
        from .models import CoverageOrder, Payer, SubscriberRelationship

        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = Payer.objects.filter(active=True).order_by("name")
        self.fields["order"].choices = CoverageOrder.choices
        self.fields["relationship"].choices = SubscriberRelationship.choices
        for f in ("card_front", "card_back"):
            self.fields[f].widget.attrs["accept"] = "image/jpeg,image/png"
        self.images = {}

    def clean_member_id(self):
        v = self.cleaned_data["member_id"].strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]*", v):
            raise ValidationError("A member ID holds letters, digits, spaces and hyphens only.")
        return v

    def clean_group_number(self):
        v = self.cleaned_data["group_number"].strip()
        if v and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]*", v):
            raise ValidationError("A group number holds letters, digits, spaces and hyphens only.")
        return v

    def clean_subscriber_name(self):
        return _clean_name(self.cleaned_data["subscriber_name"], "subscriber's name", required=False)

    def _card(self, side):
        from .cards import card_check

        upload = self.cleaned_data.get(f"card_{side}")
        if upload:
            self.images[side] = card_check(upload, side=side)
        return upload

    def clean_card_front(self):
        return self._card("front")

    def clean_card_back(self):
        return self._card("back")

    def clean(self):
        data = super().clean()
        if data.get("relationship") and data["relationship"] != "self":
            if not data.get("subscriber_name") and "subscriber_name" not in self.errors:
                self.add_error(
                    "subscriber_name", "Enter the subscriber's name (the person who holds the policy)."
                )
            if not data.get("subscriber_birth_date") and "subscriber_birth_date" not in self.errors:
                self.add_error("subscriber_birth_date", "Enter the subscriber's date of birth.")
        d = data.get("subscriber_birth_date")
        if d and d > date.today():
            self.add_error("subscriber_birth_date", "The subscriber's date of birth cannot be in the future.")
        return data

    @property
    def photos_lost(self) -> bool:
        """A re-shown form cannot keep a chosen file: the page asks for the photos again."""
        return self.is_bound and bool(self.files) and bool(self.errors)

    def to_data(self) -> dict:
        c = self.cleaned_data
        other = c["relationship"] != "self"
        return {
            "payer": c["payer"],
            "order": c["order"],
            "member_id": c["member_id"],
            "group_number": c["group_number"],
            "relationship": c["relationship"],
            "subscriber_name": c["subscriber_name"] if other else "",
            "subscriber_birth_date": c["subscriber_birth_date"] if other else None,
        }
