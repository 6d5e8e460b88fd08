from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .validators import PASSWORD_MAX_LENGTH


class LoginForm(AuthenticationForm):
    error_messages = {
        # One message for a wrong password, an unknown user and an inactive one: no user enumeration.
        "invalid_login": "That username and password did not match. Check both and try again.",
        "inactive": "That username and password did not match. Check both and try again.",
        # No account can have such a name or password, so saying so reveals nothing about who exists.
        "username_too_long": "That username is too long: usernames have at most %(limit)d characters.",
        "password_too_long": "That password is too long: passwords have at most %(limit)d characters.",
    }

    def clean(self):
        # Refuse oversized input before authenticate(): django-axes would record the username of the failed
        # attempt in a 255-character column (a database error), and hashing megabytes costs time.
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password") or ""
        if len(username) > self.username_field.max_length:
            limit, code = self.username_field.max_length, "username_too_long"
        elif len(password) > PASSWORD_MAX_LENGTH:
            limit, code = PASSWORD_MAX_LENGTH, "password_too_long"
        else:
            return super().clean()
        raise ValidationError(self.error_messages[code], code=code, params={"limit": limit})


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Authentication code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
    )

    def clean_token(self):
        return self.cleaned_data["token"].replace(" ", "").replace("-", "").strip()
