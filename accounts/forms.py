from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    error_messages = {
        # One message for a wrong password, an unknown user and an inactive one: no user enumeration.
        "invalid_login": "That username and password did not match. Check both and try again.",
        "inactive": "That username and password did not match. Check both and try again.",
    }


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Authentication code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
    )

    def clean_token(self):
        return self.cleaned_data["token"].replace(" ", "").replace("-", "").strip()
