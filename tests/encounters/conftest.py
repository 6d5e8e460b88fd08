from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from encounters.models import AppointmentType, Location, Room
from encounters.recurrence import aware


@pytest.fixture
def appt_type(db):
    return AppointmentType.objects.create(name="Follow-up", duration_minutes=20)


@pytest.fixture
def room(db):
    return Room.objects.create(location=Location.objects.create(name="Main clinic"), name="Room 1")


@pytest.fixture
def tomorrow_9():
    d = timezone.localdate() + timedelta(days=1)
    return aware(datetime(d.year, d.month, d.day, 9, 0))
