"""Fixtures of the scheduling tests (tests/scheduling/conftest.py), also used by tests/encounters."""

from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from scheduling.models import AppointmentType, Location, Room, WorkingHours
from scheduling.recurrence import aware


@pytest.fixture
def appt_type(db):
    return AppointmentType.objects.create(name="Follow-up", duration_minutes=20)


@pytest.fixture
def room(db):
    return Room.objects.create(location=Location.objects.get_or_create(name="Main clinic")[0], name="Room 1")


@pytest.fixture
def tomorrow_9():
    d = timezone.localdate() + timedelta(days=1)
    return aware(datetime(d.year, d.month, d.day, 9, 0))


def open_hours(provider, *, start=time(7), end=time(19), since=date(2020, 1, 1)):
    """`provider` works every day of the week from `start` to `end` (bookings are refused outside hours)."""
    loc = Location.objects.get_or_create(name="Main clinic")[0]
    return [
        WorkingHours.objects.create(
            provider=provider, location=loc, weekday=d, start_time=start, end_time=end, effective_from=since
        )
        for d in range(7)
    ]


@pytest.fixture
def hours(db, clinician):
    """The clinician works every day 07:00-19:00: tests that book are not about working hours."""
    return open_hours(clinician)
