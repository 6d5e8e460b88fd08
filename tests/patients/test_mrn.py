"""MRNs: a database sequence number and a Luhn check digit. 8 digits until 9,999,999 patients, then one digit more at
a time (up to 12): the scheme never runs out at the sizes the benchmark seeds (1M) or ten times that."""

from contextlib import contextmanager

import pytest
from django.db import connection

from patients.selectors import patient_search
from patients.services import care_team_grant, luhn_digit, mrn_is_valid, mrn_next
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


@contextmanager
def sequence_at(value: int):
    """Move the MRN sequence (not transactional in PostgreSQL, so it is put back afterwards)."""
    with connection.cursor() as cur:
        cur.execute("SELECT last_value, is_called FROM patients_mrn_seq")
        last, called = cur.fetchone()
        cur.execute("SELECT setval('patients_mrn_seq', %s, false)", [value])
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT setval('patients_mrn_seq', %s, %s)", [last, called])


def test_mrns_grow_past_eight_digits_and_keep_their_check_digit(clinician):
    with sequence_at(9_999_999):
        last_eight, first_nine = mrn_next(), mrn_next()
        assert last_eight == "9999999" + luhn_digit("9999999") and len(last_eight) == 8
        assert first_nine == "10000000" + luhn_digit("10000000") and len(first_nine) == 9
    with sequence_at(12_345_678_901):  # far beyond 10M patients
        p = make_patient(given_name="Zoe", family_name="Tenmillion", ssn=None, phones=None)
    assert len(p.mrn) == 12 and mrn_is_valid(p.mrn)  # the database's format check accepts it
    care_team_grant(patient=p, user=clinician, care_role="PCP")
    rows, _ = patient_search(actor=clinician, q=p.mrn)
    assert [r.pk for r in rows] == [p.pk]


@pytest.mark.parametrize("mrn", ["1000000", "1234567890123", "12345678a"])
def test_malformed_mrns_are_not_valid(mrn):
    assert not mrn_is_valid(mrn)


def test_every_single_digit_typo_is_caught():
    with sequence_at(10_000_000):
        mrn = mrn_next()
    for i in range(len(mrn)):
        for d in "0123456789":
            if d != mrn[i]:
                assert not mrn_is_valid(mrn[:i] + d + mrn[i + 1 :])
