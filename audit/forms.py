"""Input checking for the audit reports: dates, sort key, page and the subject (MRN, name and date of birth, or
username)."""

from django import forms

from .selectors import MAX_PAGE


class ReportFilterForm(forms.Form):
    start = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the start date as YYYY-MM-DD."},
    )
    end = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the end date as YYYY-MM-DD."},
    )
    # Any text: the selector keeps only whitelisted keys (an unknown one falls back to newest first).
    sort = forms.CharField(max_length=20, required=False, widget=forms.HiddenInput)
    # Bounded OFFSET: past MAX_PAGE narrow the dates or export the CSV (audit/selectors.py).
    page = forms.IntegerField(
        min_value=1,
        max_value=MAX_PAGE,
        required=False,
        widget=forms.HiddenInput,
        error_messages={
            "max_value": f"Reports show {MAX_PAGE} pages at most: narrow the dates or export the CSV."
        },
    )
    asof = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)


class PatientReportForm(ReportFilterForm):
    """The patient by MRN, or by name and date of birth (a complaint rarely quotes an MRN)."""

    mrn = forms.RegexField(
        label="Patient MRN",
        regex=r"^\d{8,12}$",
        required=False,
        error_messages={"invalid": "An MRN is 8 to 12 digits."},
    )
    name = forms.CharField(label="Or the patient's name", max_length=200, required=False)
    birth_date = forms.DateField(
        label="and date of birth",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the date of birth as YYYY-MM-DD."},
    )
    # The raw list instead of the summary, optionally one person's events ("u<user id>") or the system's.
    view = forms.ChoiceField(
        choices=[("", "Summary"), ("events", "Every event")], required=False, widget=forms.HiddenInput
    )
    who = forms.RegexField(regex=r"^(u\d{1,12}|system)$", required=False, widget=forms.HiddenInput)

    field_order = ["mrn", "name", "birth_date", "start", "end"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        name = (data.get("name") or "").strip()
        if not data.get("mrn") and not name and not data.get("birth_date"):
            raise forms.ValidationError("Enter the patient's MRN, or their name and date of birth.")
        if not data.get("mrn"):
            if not name:
                self.add_error("name", "Enter the name as well as the date of birth.")
            elif not data.get("birth_date"):
                self.add_error("birth_date", "Enter the date of birth as well as the name.")
        return data


class UserReportForm(ReportFilterForm):
    username = forms.CharField(label="Username", max_length=150)

    field_order = ["username", "start", "end"]


class BreakGlassReportForm(ReportFilterForm):
    grants_only = forms.BooleanField(label="Emergency-access requests only", required=False)
