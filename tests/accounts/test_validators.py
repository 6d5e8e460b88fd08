"""NPI and DEA check digits, with numbers worked by hand."""

import pytest
from django.core.exceptions import ValidationError

from accounts.validators import dea_is_valid, npi_is_valid, validate_dea, validate_npi


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1003000126"])
def test_valid_npis(npi):
    assert npi_is_valid(npi)
    validate_npi(npi)


@pytest.mark.parametrize(
    "npi", ["1234567890", "1234567894", "123456789", "12345678930", "12345678a3", "", None]
)
def test_invalid_npis(npi):
    assert not npi_is_valid(npi)


def test_validate_npi_raises_with_a_plain_message():
    with pytest.raises(ValidationError, match="check digit"):
        validate_npi("1234567890")


# AB1234563: (1+3+5) + 2*(2+4+6) = 9 + 24 = 33 -> check digit 3.
# BB1388568: (1+8+5) + 2*(3+8+6) = 14 + 34 = 48 -> 8.   F91234563: business activity "9" as second letter.
@pytest.mark.parametrize("dea", ["AB1234563", "BB1388568", "F91234563", "ab1234563"])
def test_valid_dea_numbers(dea):
    assert dea_is_valid(dea)


@pytest.mark.parametrize("dea", ["AB1234564", "AB123456", "A11234563", "1B1234563", "AB12345630", "", None])
def test_invalid_dea_numbers(dea):
    assert not dea_is_valid(dea)


def test_dea_second_letter_is_checked_against_the_last_name_when_given():
    assert dea_is_valid("AB1234563", last_name="Baker")
    assert not dea_is_valid("AB1234563", last_name="Able")
    assert dea_is_valid("F91234563", last_name="Able")  # "9" is not a name initial


def test_validate_dea_raises():
    with pytest.raises(ValidationError, match="check digit"):
        validate_dea("AB1234564")
