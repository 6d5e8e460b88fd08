from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.db import transaction

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


class QueuedPasswordResetForm(PasswordResetForm):
    """The reset page's form: validates the address and queues the email (accounts/tasks.py), nothing more.

    Django's form looks the address up and sends the mail in the request, so a known address took measurably
    longer (issue 18 #8). Here known and unknown addresses do the same work: no query, one queued task.
    """

    def save(self, *, request=None, use_https=False, domain_override=None, **kwargs):
        from .tasks import password_reset_email

        email = self.cleaned_data["email"]
        domain = domain_override or request.get_host()
        transaction.on_commit(lambda: password_reset_email.delay(email, domain, use_https))
