"""Values as the sending system wrote them (issue 19): the chart's columns round, the API must not.

The chart keeps dates as dates, results to 4 decimal places, vital signs to 0.1 or whole numbers. An import keeps
each value as it was sent beside the column (`as_sent`: {column: the JSON value}); the API serves that value instead
of the column's for as long as it still rounds to what the column holds. Once someone changes the column here, the
sent value no longer agrees and the column is served. Pure functions, no queries: mapping.py and services.py use
them.

Agreement, by the column's kind:
- a date column: the sent date or dateTime names that day (a month '2019-03' the 1st, as the import stores it);
- a timestamp column: the sent dateTime is the same instant (a date alone: midnight in the clinic's zone);
- a number column: the sent number rounded half away from zero to the column's places (PostgreSQL's rounding
  of numeric, and the import's of vital signs) is the column's value.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .values import Invalid, date_of, instant

RESULT_PLACES = 4  # encounters.Observation value and reference range columns
# Vital-sign columns: the import rounds these to 0.1; the others are whole numbers.
VITAL_PLACES = {"temperature": 1, "weight": 1, "height": 1, "bmi": 1}


def rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _agrees(sent, stored, places: int | None) -> bool:
    try:
        if isinstance(stored, datetime):
            return isinstance(sent, str) and instant(sent, "") == stored
        if isinstance(stored, date):
            return isinstance(sent, str) and date_of(sent, "") == stored
        if isinstance(sent, bool) or not isinstance(sent, (int, float)):
            return False
        return rounded(Decimal(repr(sent)), places or 0) == Decimal(stored)
    except (Invalid, InvalidOperation, ValueError):
        return False


def sent(row, column: str, stored, *, places: int | None = None):
    """The value of `column` as it was sent, while it agrees with what the column holds; else None."""
    found = getattr(row, "as_sent", None)
    if not found or stored is None:
        return None
    value = found.get(column)
    if value is None or not _agrees(value, stored, places):
        return None
    return value


def vital_places(column: str) -> int:
    return VITAL_PLACES.get(column, 0)
