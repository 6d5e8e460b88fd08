"""Input checking only; the services hold the rules."""

from django import forms

from .services import COMMENT_MAX

# Common follow-ups: (label, days until due).
TASK_PRESETS = [
    ("Call patient", 1),
    ("Repeat test in 3 months", 91),
    ("Schedule a follow-up visit", 14),
    ("Send letter with results", 7),
]


class SignOffForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


class ForwardForm(forms.Form):
    to_user = forms.TypedChoiceField(label="Forward to", coerce=int, choices=())
    note = forms.CharField(required=False, max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].choices = [("", "Choose a colleague")] + list(candidates)


class TaskForm(forms.Form):
    title = forms.CharField(label="Task", max_length=300)
    due = forms.DateField(label="Due", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    assignee = forms.TypedChoiceField(label="For", coerce=int, choices=(), required=False, empty_value=None)

    def __init__(self, *args, candidates=(), me=None, **kwargs):
        super().__init__(*args, **kwargs)
        mine = [(me.pk, "Me")] if me is not None else []
        self.fields["assignee"].choices = mine + list(candidates)


class NotifyForm(forms.Form):
    message = forms.CharField(
        label="Message to the patient", max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
