"""The clinic's units are read without a query once cached, and a change is seen on the next read."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from encounters.models import ClinicUnits
from encounters.units import clinic_units


def _read():
    with CaptureQueriesContext(connection) as ctx:
        units = clinic_units()
    return units, len(ctx.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_units_are_read_once_then_served_from_the_cache_and_a_change_is_seen_at_once():
    units, n = _read()
    assert units == {"temperature": "[degF]", "weight": "[lb_av]", "height": "[in_i]"} and n == 1
    assert _read() == (units, 0)
    ClinicUnits.objects.update_or_create(
        pk=1, defaults={"temperature": "Cel", "weight": "kg", "height": "cm"}
    )
    units, n = _read()
    assert units == {"temperature": "Cel", "weight": "kg", "height": "cm"} and n == 1
    ClinicUnits.objects.filter(pk=1).delete()
    assert _read()[0]["temperature"] == "[degF]"


@pytest.mark.django_db(transaction=True)
def test_a_choice_rolled_back_never_reaches_the_cache():
    assert _read()[0]["weight"] == "[lb_av]"
    with pytest.raises(RuntimeError), transaction.atomic():
        ClinicUnits.objects.create(pk=1, temperature="Cel", weight="kg", height="cm")
        units, n = _read()  # inside the transaction: the database's (uncommitted) answer, not cached
        assert units["weight"] == "kg" and n == 1
        raise RuntimeError("roll back")
    assert _read() == ({"temperature": "[degF]", "weight": "[lb_av]", "height": "[in_i]"}, 0)
