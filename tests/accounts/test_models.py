from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Practitioner
from tests.factories import UserFactory


@pytest.mark.django_db
def test_full_clean_refuses_a_bad_npi_and_a_bad_dea():
    p = Practitioner(
        user=UserFactory(), npi="1234567890", dea_number="AB1234564", specialty="Family medicine"
    )

    with pytest.raises(ValidationError) as exc:
        p.full_clean()

    assert set(exc.value.message_dict) == {"npi", "dea_number"}


@pytest.mark.django_db
def test_the_database_refuses_malformed_identifiers_even_without_full_clean():
    with pytest.raises(IntegrityError), transaction.atomic():
        Practitioner.objects.create(user=UserFactory(), npi="12345")
    with pytest.raises(IntegrityError), transaction.atomic():
        Practitioner.objects.create(user=UserFactory(), npi="1234567893", dea_number="ab1234563")


@pytest.mark.django_db
def test_full_clean_stores_a_lower_case_dea_number_in_capitals():
    p = Practitioner(user=UserFactory(), npi="1234567893", dea_number="ab1234563")

    p.full_clean()
    p.save()

    p.refresh_from_db()
    assert p.dea_number == "AB1234563"


@pytest.mark.django_db
def test_a_constraint_violation_reads_as_a_sentence_not_a_constraint_name():
    p = Practitioner(user=UserFactory(), npi="1234567893", dea_number="ab1234563")  # clean() not run

    with pytest.raises(ValidationError) as exc:
        p.validate_constraints()

    assert exc.value.messages == ["A DEA number is two capital letters and seven digits, e.g. AB1234563."]
    assert "practitioner_dea_shape" not in str(exc.value)


@pytest.mark.django_db
def test_controlled_substances_need_a_valid_unexpired_dea(clinician):
    practitioner = clinician.practitioner
    practitioner.dea_expires = date(2030, 1, 31)

    assert practitioner.can_prescribe_controlled(date(2030, 1, 31))
    assert not practitioner.can_prescribe_controlled(date(2030, 2, 1))
    practitioner.dea_number = ""
    assert not practitioner.can_prescribe_controlled(date(2025, 1, 1))


@pytest.mark.django_db
def test_str_shows_name_and_credentials(clinician):
    assert str(clinician.practitioner) == "Alice Able, MD"
