"""Medical record numbers: digits with a Luhn check digit (pure functions; mrn_next in services.py draws the
sequence). Below selectors and services: both use it."""

from __future__ import annotations


def luhn_digit(number: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


MRN_MIN_LENGTH, MRN_MAX_LENGTH = 8, 12


def mrn_is_valid(mrn: str) -> bool:
    """8 to 12 digits whose last is the Luhn check digit of the others (see mrn_next)."""
    mrn = mrn or ""
    return MRN_MIN_LENGTH <= len(mrn) <= MRN_MAX_LENGTH and mrn.isdigit() and luhn_digit(mrn[:-1]) == mrn[-1]
