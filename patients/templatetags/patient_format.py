"""Display of stored patient values: phone numbers (E.164 shown in the national format), language names."""

import phonenumbers
from django import template

from patients import languages

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """+12025550143 -> (202) 555-0143; a number from elsewhere in international format; anything stored before
    E.164 (or unreadable) exactly as stored."""
    if not value or not str(value).startswith("+"):
        return value or ""
    try:
        n = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if n.country_code == 1
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(n, fmt)


@register.filter
def language(code: str) -> str:
    return languages.name_of(code)
