import re

from django import forms
from django.core.exceptions import ValidationError

from .models import Ethnicity, GenderIdentity, Patient, Race, SexAtBirth

_NAME_RE = re.compile(r"^[^\d<>{}\[\]\\/@#$%^*=+|~`]+$")


def _clean_name(value: str, label: str, required: bool = True) -> str:
    value = " ".join((value or "").split())
    if not value:
        if required:
            raise ValidationError(f"Enter the {label}.")
        return ""
    if not _NAME_RE.match(value):
        raise ValidationError(f"The {label} can hold letters, spaces, hyphens, apostrophes and periods only.")
    return value


class PatientForm(forms.Form):
    """Registration and demographics. Input checking only; the service decides and saves."""

    given_name = forms.CharField(label="Given name", max_length=100)
    middle_name = forms.CharField(label="Middle name", max_length=100, required=False)
    family_name = forms.CharField(label="Family name", max_length=100)
    preferred_name = forms.CharField(label="Preferred name", max_length=100, required=False)
    suffix = forms.CharField(max_length=20, required=False)
    previous_family_name = forms.CharField(label="Previous family name", max_length=100, required=False)
    birth_date = forms.DateField(label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}),
                                 error_messages={"invalid": "Enter the date of birth as YYYY-MM-DD."})
    sex_at_birth = forms.ChoiceField(label="Sex assigned at birth", choices=SexAtBirth.choices)
    gender_identity = forms.ChoiceField(choices=[("", "—")] + GenderIdentity.choices, required=False)
    pronouns = forms.CharField(max_length=40, required=False)
    race = forms.MultipleChoiceField(choices=Race.choices, required=False, widget=forms.CheckboxSelectMultiple)
    ethnicity = forms.ChoiceField(choices=[("", "—")] + Ethnicity.choices, required=False)
    preferred_language = forms.CharField(max_length=20, initial="en", help_text="e.g. en, es, vi")
    phone_mobile = forms.CharField(label="Mobile phone", max_length=30, required=False)
    phone_home = forms.CharField(label="Home phone", max_length=30, required=False)
    email = forms.EmailField(required=False)
    address_line = forms.CharField(label="Street address", max_length=200, required=False)
    address_city = forms.CharField(label="City", max_length=100, required=False)
    address_state = forms.CharField(label="State", max_length=2, required=False)
    address_postal = forms.CharField(label="ZIP code", max_length=10, required=False)
    emergency_name = forms.CharField(label="Emergency contact", max_length=150, required=False)
    emergency_relationship = forms.CharField(label="Relationship", max_length=50, required=False)
    emergency_phone = forms.CharField(label="Emergency contact phone", max_length=30, required=False)
    ssn = forms.CharField(label="SSN", max_length=11, required=False, help_text="Optional. 123-45-6789")
    drivers_license = forms.CharField(label="Driver's licence", max_length=30, required=False)
    deceased_date = forms.DateField(label="Date of death", required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}))

    def clean_given_name(self):
        return _clean_name(self.cleaned_data["given_name"], "given name")

    def clean_family_name(self):
        return _clean_name(self.cleaned_data["family_name"], "family name")

    def clean_middle_name(self):
        return _clean_name(self.cleaned_data["middle_name"], "middle name", required=False)

    def clean_preferred_name(self):
        return _clean_name(self.cleaned_data["preferred_name"], "preferred name", required=False)

    def clean_previous_family_name(self):
        return _clean_name(self.cleaned_data["previous_family_name"], "previous family name", required=False)

    def clean_birth_date(self):
        from datetime import date

        d = self.cleaned_data["birth_date"]
        if d > date.today():
            raise ValidationError("The date of birth cannot be in the future.")
        if d.year < 1890:
            raise ValidationError("Check the year of birth.")
        return d

    def _phone(self, name):
        v = self.cleaned_data.get(name, "").strip()
        if v and not re.fullmatch(r"[\d\s().+-]{7,20}", v):
            raise ValidationError("Enter a phone number with digits, spaces, dashes or brackets.")
        if v and len(re.sub(r"\D", "", v)) < 7:
            raise ValidationError("A phone number has at least 7 digits.")
        return v

    def clean_phone_mobile(self):
        return self._phone("phone_mobile")

    def clean_phone_home(self):
        return self._phone("phone_home")

    def clean_emergency_phone(self):
        return self._phone("emergency_phone")

    def clean_ssn(self):
        v = self.cleaned_data["ssn"].strip()
        if v and not re.fullmatch(r"\d{3}-?\d{2}-?\d{4}", v):
            raise ValidationError("Enter the SSN as 123-45-6789.")
        if v:
            d = re.sub(r"\D", "", v)
            return f"{d[:3]}-{d[3:5]}-{d[5:]}"
        return v

    def clean_address_state(self):
        v = self.cleaned_data["address_state"].strip().upper()
        if v and not re.fullmatch(r"[A-Z]{2}", v):
            raise ValidationError("Use the two-letter state code.")
        return v

    def clean(self):
        data = super().clean()
        dd, bd = data.get("deceased_date"), data.get("birth_date")
        if dd and bd and dd < bd:
            self.add_error("deceased_date", "The date of death cannot be before the date of birth.")
        return data

    def to_data(self) -> dict:
        c = self.cleaned_data
        phones = [{"use": use, "value": c[f]} for use, f in (("mobile", "phone_mobile"), ("home", "phone_home"))
                  if c.get(f)]
        address = None
        if any(c.get(f) for f in ("address_line", "address_city", "address_state", "address_postal")):
            address = [{"use": "home", "line": c["address_line"], "city": c["address_city"],
                        "state": c["address_state"], "postal_code": c["address_postal"], "country": "US"}]
        emergency = None
        if c.get("emergency_name"):
            emergency = [{"name": c["emergency_name"], "relationship": c["emergency_relationship"],
                          "phone": c["emergency_phone"]}]
        prev = [{"family": c["previous_family_name"], "given": c["given_name"]}] if c.get("previous_family_name") else []
        return {
            "given_name": c["given_name"], "middle_name": c["middle_name"], "family_name": c["family_name"],
            "preferred_name": c["preferred_name"], "suffix": c["suffix"], "previous_names": prev,
            "birth_date": c["birth_date"], "sex_at_birth": c["sex_at_birth"],
            "gender_identity": c["gender_identity"], "pronouns": c["pronouns"], "race": c["race"],
            "ethnicity": c["ethnicity"], "preferred_language": c["preferred_language"] or "en",
            "phones": phones or None, "email": c["email"] or None, "addresses": address,
            "emergency_contacts": emergency, "ssn": c["ssn"] or None, "drivers_license": c["drivers_license"] or None,
            "deceased_date": c.get("deceased_date"),
        }

    @classmethod
    def initial_from(cls, p: Patient) -> dict:
        phones = {ph.get("use"): ph.get("value") for ph in (p.phones or [])}
        addr = (p.addresses or [{}])[0]
        em = (p.emergency_contacts or [{}])[0]
        prev = (p.previous_names or [{}])[0]
        return {
            "given_name": p.given_name, "middle_name": p.middle_name, "family_name": p.family_name,
            "preferred_name": p.preferred_name, "suffix": p.suffix, "previous_family_name": prev.get("family", ""),
            "birth_date": p.birth_date, "sex_at_birth": p.sex_at_birth, "gender_identity": p.gender_identity,
            "pronouns": p.pronouns, "race": p.race, "ethnicity": p.ethnicity,
            "preferred_language": p.preferred_language, "phone_mobile": phones.get("mobile", ""),
            "phone_home": phones.get("home", ""), "email": p.email or "", "address_line": addr.get("line", ""),
            "address_city": addr.get("city", ""), "address_state": addr.get("state", ""),
            "address_postal": addr.get("postal_code", ""), "emergency_name": em.get("name", ""),
            "emergency_relationship": em.get("relationship", ""), "emergency_phone": em.get("phone", ""),
            "ssn": p.ssn or "", "drivers_license": p.drivers_license or "", "deceased_date": p.deceased_date,
        }


class DuplicateReasonForm(forms.Form):
    duplicate_reason = forms.CharField(
        label="Why is this a new patient?", widget=forms.Textarea(attrs={"rows": 2}), max_length=500,
        help_text="e.g. 'Twins: different first names, checked ID'.")


class BreakGlassForm(forms.Form):
    mrn = forms.RegexField(label="MRN", regex=r"^\d{8}$", error_messages={"invalid": "An MRN is 8 digits."})
    birth_date = forms.DateField(label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label="Reason for emergency access", widget=forms.Textarea(attrs={"rows": 3}),
                             min_length=10, max_length=1000)


class CareTeamAddForm(forms.Form):
    username = forms.CharField(label="Staff username", max_length=150)
    care_role = forms.CharField(label="Role on the care team", max_length=80, initial="Care team")


class MergeForm(forms.Form):
    duplicate_mrn = forms.RegexField(label="MRN of the duplicate record", regex=r"^\d{8}$",
                                     error_messages={"invalid": "An MRN is 8 digits."})
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=500)
