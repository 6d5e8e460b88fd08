"""Identifiers of prescribers, validated by their published check-digit rules."""

import re

from django.core.exceptions import ValidationError


def npi_is_valid(npi: str) -> bool:
    """CMS NPI: 10 digits, the last a Luhn check digit computed over the prefix 80840 + the first nine."""
    if not re.fullmatch(r"\d{10}", npi or ""):
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:  # double every other digit starting with the rightmost of the payload
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def validate_npi(value: str) -> None:
    if not npi_is_valid(value):
        raise ValidationError(
            "Enter a valid 10-digit NPI (the check digit does not match).", code="invalid_npi"
        )


def dea_is_valid(dea: str, last_name: str | None = None) -> bool:
    """DEA registration: two letters and seven digits; (d1+d3+d5) + 2*(d2+d4+d6) ends in d7.

    The second letter is the registrant's last-name initial (or 9 for some business activities).
    """
    m = re.fullmatch(r"([A-Z])([A-Z9])(\d{7})", (dea or "").upper())
    if not m:
        return False
    d = [int(c) for c in m.group(3)]
    check = (d[0] + d[2] + d[4]) + 2 * (d[1] + d[3] + d[5])
    if check % 10 != d[6]:
        return False
    return not (last_name and m.group(2) != "9" and m.group(2) != last_name[:1].upper())


def validate_dea(value: str) -> None:
    if not dea_is_valid(value):
        raise ValidationError(
            "Enter a valid DEA number: two letters and seven digits whose check digit matches.",
            code="invalid_dea",
        )


# Longer than any passphrase a person or a password manager makes; bounds the work of hashing one attempt.
PASSWORD_MAX_LENGTH = 1024


class MaximumLengthValidator:
    """AUTH_PASSWORD_VALIDATORS: nobody may choose a password the sign-in form would refuse (accounts/forms.py)."""

    def __init__(self, max_length: int = PASSWORD_MAX_LENGTH):
        self.max_length = max_length

    def validate(self, password, user=None):
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long. It may have at most {self.max_length} characters.",
                code="password_too_long",
            )

    def get_help_text(self):
        return f"Your password may have at most {self.max_length} characters."
