"""Input checking for the audit reports: dates, sort key, page and the subject (MRN or username)."""

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
    mrn = forms.RegexField(
        label="Patient MRN", regex=r"^\d{8,12}$", error_messages={"invalid": "An MRN is 8 to 12 digits."}
    )

    field_order = ["mrn", "start", "end"]


class UserReportForm(ReportFilterForm):
    username = forms.CharField(label="Username", max_length=150)

    field_order = ["username", "start", "end"]


class BreakGlassReportForm(ReportFilterForm):
    grants_only = forms.BooleanField(label="Emergency-access requests only", required=False)
