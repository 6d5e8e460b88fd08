import re
from datetime import date

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from . import languages
from .models import Ethnicity, GenderIdentity, Patient, Race, SexAtBirth, SexualOrientation

_NAME_RE = re.compile(r"^[^\d<>{}\[\]\\/@#$%^*=+|~`]+$")
_TEXT_RE = re.compile(r"^[^<>{}\[\]\\|~`^]*$")  # free text (occupation, tribe): no markup characters


def _clean_name(value: str, label: str, required: bool = True) -> str:
    value = " ".join((value or "").split())
    if not value:
        if required:
            raise ValidationError(f"Enter the {label}.")
        return ""
    if not _NAME_RE.match(value):
        raise ValidationError(f"The {label} can hold letters, spaces, hyphens, apostrophes and periods only.")
    return value


def _clean_text(value: str, label: str) -> str:
    value = " ".join((value or "").split())
    if not _TEXT_RE.match(value):
        raise ValidationError(f"The {label} cannot contain < > {{ }} [ ] \\ | ~ ` ^.")
    return value


MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
_BAD_DATE = "\x00bad"  # the browser's date input held something that is not a date (see static/js/app.js)


class RealDateInput(forms.DateInput):
    """<input type=date>. A date the browser cannot read (31 February typed into the field) reaches the server as
    "" plus a `<name>__bad` flag set by static/js/app.js; the field then says so instead of "enter the date"."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        if not value and data.get(f"{name}__bad"):
            return _BAD_DATE
        return value


class RealDateField(forms.DateField):
    """A date typed as YYYY-MM-DD or MM/DD/YYYY. One that does not exist says so ("31 February 2024 does not
    exist"), unlike Django's "Enter a valid date"."""

    widget = RealDateInput

    def to_python(self, value):
        if value == _BAD_DATE:
            raise ValidationError(
                f"The {self.label.lower()} you typed does not exist: check the day and month."
            )
        if isinstance(value, str):
            text = value.strip()
            m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
            us = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
            if m or us:
                y, mo, d = (int(m[1]), int(m[2]), int(m[3])) if m else (int(us[3]), int(us[1]), int(us[2]))
                return _real_date(y, mo, d)
        return super().to_python(value)


def _real_date(y: int, mo: int, d: int) -> date:
    if not 1 <= mo <= 12:
        raise ValidationError(f"There is no month {mo}: enter the month as 1 to 12.")
    try:
        return date(y, mo, d)
    except ValueError:
        raise ValidationError(f"{d} {MONTHS[mo - 1]} {y} does not exist.") from None


def clean_phone(value: str, *, keep: tuple[str, ...] = ()) -> str:
    """A phone number in E.164 (+12025550143); US numbers may be typed without +1. A value already stored
    (`keep`) is accepted unchanged, so editing a record never forces a fix of an old number nobody touched."""
    value = (value or "").strip()
    if not value or value in keep:
        return value
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        raise ValidationError(
            f"“{value}” is not a phone number: enter it as (202) 555-0143, or with + and the country code."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"“{value}” is not a valid phone number: check the area code and the number of digits."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class PatientForm(forms.Form):
    """Registration and demographics. Input checking only; the service decides and saves."""

    given_name = forms.CharField(label="Given name", max_length=100)
    middle_name = forms.CharField(label="Middle name", max_length=100, required=False)
    family_name = forms.CharField(label="Family name", max_length=100)
    preferred_name = forms.CharField(label="Preferred name", max_length=100, required=False)
    suffix = forms.CharField(max_length=20, required=False)
    previous_given_name = forms.CharField(label="Previous given name", max_length=100, required=False)
    previous_family_name = forms.CharField(label="Previous family name", max_length=100, required=False)
    birth_date = RealDateField(
        label="Date of birth",
        error_messages={
            "invalid": "Enter the date of birth as YYYY-MM-DD.",
            "required": "Enter the date of birth.",
        },
    )
    sex_at_birth = forms.ChoiceField(
        label="Sex assigned at birth",
        choices=[("", "Choose …"), *SexAtBirth.choices],
        error_messages={"required": "Choose the sex assigned at birth."},
    )
    gender_identity = forms.ChoiceField(choices=[("", "—")] + GenderIdentity.choices, required=False)
    sexual_orientation = forms.ChoiceField(choices=[("", "—")] + SexualOrientation.choices, required=False)
    pronouns = forms.CharField(max_length=40, required=False)
    race = forms.MultipleChoiceField(
        choices=Race.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    ethnicity = forms.ChoiceField(choices=[("", "—")] + Ethnicity.choices, required=False)
    preferred_language = forms.ChoiceField(
        label="Preferred language", choices=languages.choices(), initial="en"
    )
    tribal_affiliation = forms.CharField(label="Tribal affiliation", max_length=200, required=False)
    occupation = forms.CharField(max_length=200, required=False)
    occupation_industry = forms.CharField(label="Occupation industry", max_length=200, required=False)
    phone_mobile = forms.CharField(label="Mobile phone", max_length=30, required=False)
    phone_home = forms.CharField(label="Home phone", max_length=30, required=False)
    email = forms.EmailField(required=False)
    address_line = forms.CharField(label="Street address", max_length=200, required=False)
    address_city = forms.CharField(label="City", max_length=100, required=False)
    address_state = forms.CharField(label="State", max_length=2, required=False)
    address_postal = forms.CharField(label="ZIP code", max_length=10, required=False)
    prev_address_line = forms.CharField(label="Previous street address", max_length=200, required=False)
    prev_address_city = forms.CharField(label="Previous city", max_length=100, required=False)
    prev_address_state = forms.CharField(label="Previous state", max_length=2, required=False)
    prev_address_postal = forms.CharField(label="Previous ZIP code", max_length=10, required=False)
    emergency_name = forms.CharField(label="Emergency contact", max_length=150, required=False)
    emergency_relationship = forms.CharField(label="Relationship", max_length=50, required=False)
    emergency_phone = forms.CharField(label="Emergency contact phone", max_length=30, required=False)
    ssn = forms.CharField(label="SSN", max_length=11, required=False, help_text="Optional. 123-45-6789")
    drivers_license = forms.CharField(label="Driver's licence", max_length=30, required=False)
    deceased_date = RealDateField(label="Date of death", required=False)

    def clean_given_name(self):
        return _clean_name(self.cleaned_data["given_name"], "given name")

    def clean_family_name(self):
        return _clean_name(self.cleaned_data["family_name"], "family name")

    def clean_middle_name(self):
        return _clean_name(self.cleaned_data["middle_name"], "middle name", required=False)

    def clean_preferred_name(self):
        return _clean_name(self.cleaned_data["preferred_name"], "preferred name", required=False)

    def __init__(self, *args, patient: Patient | None = None, **kwargs):
        # Editing: the form shows the first previous name and address; any older ones are kept as they are.
        self.patient = patient
        super().__init__(*args, **kwargs)
        current = patient.preferred_language if patient is not None else ""
        self.fields["preferred_language"].choices = languages.choices(current)
        for name in ("phone_mobile", "phone_home", "emergency_phone"):
            self.fields[name].widget.input_type = "tel"

    def clean_suffix(self):
        return _clean_name(self.cleaned_data["suffix"], "suffix", required=False)

    def clean_emergency_name(self):
        return _clean_name(self.cleaned_data["emergency_name"], "emergency contact's name", required=False)

    def clean_emergency_relationship(self):
        return _clean_text(self.cleaned_data["emergency_relationship"], "relationship")

    def clean_previous_given_name(self):
        return _clean_name(self.cleaned_data["previous_given_name"], "previous given name", required=False)

    def clean_previous_family_name(self):
        return _clean_name(self.cleaned_data["previous_family_name"], "previous family name", required=False)

    def clean_tribal_affiliation(self):
        return _clean_text(self.cleaned_data["tribal_affiliation"], "tribal affiliation")

    def clean_occupation(self):
        return _clean_text(self.cleaned_data["occupation"], "occupation")

    def clean_occupation_industry(self):
        return _clean_text(self.cleaned_data["occupation_industry"], "occupation industry")

    def clean_address_line(self):
        return _clean_text(self.cleaned_data["address_line"], "street address")

    def clean_prev_address_line(self):
        return _clean_text(self.cleaned_data["prev_address_line"], "previous street address")

    def clean_birth_date(self):
        d = self.cleaned_data["birth_date"]
        if d > date.today():
            raise ValidationError("The date of birth cannot be in the future.")
        if d.year < 1890:
            raise ValidationError("Check the year of birth.")
        return d

    def _phone(self, name):
        p = self.patient
        stored = [ph.get("value", "") for ph in (p.phones or [])] if p is not None else []
        stored += [e.get("phone", "") for e in (p.emergency_contacts or [])] if p is not None else []
        return clean_phone(self.cleaned_data.get(name, ""), keep=tuple(v for v in stored if v))

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

    @staticmethod
    def _state(value: str) -> str:
        v = value.strip().upper()
        if v and not re.fullmatch(r"[A-Z]{2}", v):
            raise ValidationError("Use the two-letter state code.")
        return v

    def clean_address_state(self):
        return self._state(self.cleaned_data["address_state"])

    def clean_prev_address_state(self):
        return self._state(self.cleaned_data["prev_address_state"])

    def clean_deceased_date(self):
        d = self.cleaned_data.get("deceased_date")
        if d and d > timezone.localdate():
            raise ValidationError("The date of death cannot be in the future.")
        return d

    def clean(self):
        data = super().clean()
        dd, bd = data.get("deceased_date"), data.get("birth_date")
        if dd and bd and dd < bd:
            self.add_error("deceased_date", "The date of death cannot be before the date of birth.")
        # A previous name is a whole name (USCDI v3): both parts, or neither.
        if data.get("previous_given_name") and not data.get("previous_family_name"):
            self.add_error("previous_family_name", "Enter the previous family name too.")
        if data.get("previous_family_name") and not data.get("previous_given_name"):
            self.add_error("previous_given_name", "Enter the previous given name too.")
        return data

    def to_data(self) -> dict:
        c = self.cleaned_data
        phones = [
            {"use": use, "value": c[f]}
            for use, f in (("mobile", "phone_mobile"), ("home", "phone_home"))
            if c.get(f)
        ]
        old = self.patient
        current, previous = [], []
        if any(c.get(f) for f in ("address_line", "address_city", "address_state", "address_postal")):
            current.append(
                {
                    "use": "home",
                    "line": c["address_line"],
                    "city": c["address_city"],
                    "state": c["address_state"],
                    "postal_code": c["address_postal"],
                    "country": "US",
                }
            )
        if any(
            c.get(f)
            for f in ("prev_address_line", "prev_address_city", "prev_address_state", "prev_address_postal")
        ):
            previous.append(
                {
                    "use": "old",
                    "line": c["prev_address_line"],
                    "city": c["prev_address_city"],
                    "state": c["prev_address_state"],
                    "postal_code": c["prev_address_postal"],
                    "country": "US",
                }
            )
        if old is not None:
            current += old.current_addresses[1:]
            previous += old.previous_addresses[1:]
        addresses = current + previous
        emergency = None
        if c.get("emergency_name"):
            emergency = [
                {
                    "name": c["emergency_name"],
                    "relationship": c["emergency_relationship"],
                    "phone": c["emergency_phone"],
                }
            ]
        prev = []
        if c.get("previous_family_name"):
            prev.append({"given": c["previous_given_name"], "family": c["previous_family_name"]})
        if old is not None:
            prev += list(old.previous_names or [])[1:]
        return {
            "given_name": c["given_name"],
            "middle_name": c["middle_name"],
            "family_name": c["family_name"],
            "preferred_name": c["preferred_name"],
            "suffix": c["suffix"],
            "previous_names": prev,
            "birth_date": c["birth_date"],
            "sex_at_birth": c["sex_at_birth"],
            "gender_identity": c["gender_identity"],
            "sexual_orientation": c["sexual_orientation"],
            "pronouns": c["pronouns"],
            "race": c["race"],
            "ethnicity": c["ethnicity"],
            "preferred_language": c["preferred_language"] or "en",
            "tribal_affiliation": c["tribal_affiliation"],
            "occupation": c["occupation"],
            "occupation_industry": c["occupation_industry"],
            "phones": phones or None,
            "email": c["email"] or None,
            "addresses": addresses or None,
            "emergency_contacts": emergency,
            "ssn": c["ssn"] or None,
            "drivers_license": c["drivers_license"] or None,
            "deceased_date": c.get("deceased_date"),
        }

    @classmethod
    def initial_from(cls, p: Patient) -> dict:
        phones = {ph.get("use"): ph.get("value") for ph in (p.phones or [])}
        addr = (p.current_addresses or [{}])[0]
        old_addr = (p.previous_addresses or [{}])[0]
        em = (p.emergency_contacts or [{}])[0]
        prev = (p.previous_names or [{}])[0]
        return {
            "given_name": p.given_name,
            "middle_name": p.middle_name,
            "family_name": p.family_name,
            "preferred_name": p.preferred_name,
            "suffix": p.suffix,
            "previous_given_name": prev.get("given", ""),
            "previous_family_name": prev.get("family", ""),
            "birth_date": p.birth_date,
            "sex_at_birth": p.sex_at_birth,
            "gender_identity": p.gender_identity,
            "sexual_orientation": p.sexual_orientation,
            "pronouns": p.pronouns,
            "race": p.race,
            "ethnicity": p.ethnicity,
            "preferred_language": p.preferred_language,
            "tribal_affiliation": p.tribal_affiliation,
            "occupation": p.occupation,
            "occupation_industry": p.occupation_industry,
            "phone_mobile": phones.get("mobile", ""),
            "phone_home": phones.get("home", ""),
            "email": p.email or "",
            "address_line": addr.get("line", ""),
            "address_city": addr.get("city", ""),
            "address_state": addr.get("state", ""),
            "address_postal": addr.get("postal_code", ""),
            "prev_address_line": old_addr.get("line", ""),
            "prev_address_city": old_addr.get("city", ""),
            "prev_address_state": old_addr.get("state", ""),
            "prev_address_postal": old_addr.get("postal_code", ""),
            "emergency_name": em.get("name", ""),
            "emergency_relationship": em.get("relationship", ""),
            "emergency_phone": em.get("phone", ""),
            "ssn": p.ssn or "",
            "drivers_license": p.drivers_license or "",
            "deceased_date": p.deceased_date,
        }


class DuplicateReasonForm(forms.Form):
    duplicate_reason = forms.CharField(
        label="Why is this a new patient?",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
        help_text="e.g. 'Twins: different first names, checked ID'.",
    )


MRN_REGEX = r"^\d{8,12}$"
MRN_MESSAGE = "An MRN is 8 to 12 digits."


class BreakGlassForm(forms.Form):
    mrn = forms.RegexField(label="MRN", regex=MRN_REGEX, error_messages={"invalid": MRN_MESSAGE})
    birth_date = forms.DateField(label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(
        label="Reason for emergency access",
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        max_length=1000,
    )


class OptionListSelect(forms.Select):
    """Django's Select markup for flat choices, written without a template per option: the care-team form lists
    every staff member on every chart page, and rendering an option template each was a sixth of the page's
    time."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]

        def attrs_html(attrs: dict) -> str:
            return "".join(
                format_html(" {}", k) if v is True else format_html(' {}="{}"', k, v)
                for k, v in attrs.items()
                if v is not False and v is not None
            )

        options = "".join(
            format_html(
                '\n  <option value="{}"{}>{}</option>\n',
                option["value"],
                mark_safe(attrs_html(option["attrs"])),
                option["label"],
            )
            for _group, group_choices, _index in widget["optgroups"]
            for option in group_choices
        )
        return mark_safe(
            format_html('<select name="{}"{}>', widget["name"], mark_safe(attrs_html(widget["attrs"])))
            + options
            + "\n</select>"
        )


class MemberChoiceField(forms.ChoiceField):
    """Offers the staff and teams the user may add (patients.selectors.care_team_candidates), and accepts any
    well-formed "user:<id>" / "group:<id>": whether that member may be added is the service's decision (so a
    tampered choice gets the service's 403, not a silent form error)."""

    def valid_value(self, value):
        return bool(re.fullmatch(r"(user|group):\d{1,10}", str(value)))


class CareTeamAddForm(forms.Form):
    member = MemberChoiceField(
        label="Staff member or team",
        choices=(),
        widget=OptionListSelect,
        error_messages={"invalid_choice": "Choose a staff member or team from the list."},
    )
    care_role = forms.CharField(label="Role on the care team", max_length=80, initial="Care team")

    def __init__(self, *args, candidates: list[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].choices = [("", "Choose …"), *candidates]

    def clean_care_role(self):
        return _clean_text(self.cleaned_data["care_role"], "care-team role") or "Care team"

    def member_ref(self) -> tuple[str, int]:
        """("user" | "group", id) of the chosen member."""
        kind, _, pk = self.cleaned_data["member"].partition(":")
        return kind, int(pk)


class MergeForm(forms.Form):
    duplicate_mrn = forms.RegexField(
        label="MRN of the duplicate record", regex=MRN_REGEX, error_messages={"invalid": MRN_MESSAGE}
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=500)
