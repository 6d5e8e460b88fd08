"""Factories for the clinic's calendar setup (reference rows, not patient data: no audit door to pass)."""

from datetime import date, time

import factory

from scheduling.models import AppointmentType, Colour, Location, Room, WorkingHours


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("name",)

    name = "Main clinic"
    address = "1 Main St, Springfield"


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        django_get_or_create = ("location", "name")

    location = factory.SubFactory(LocationFactory)
    name = factory.Sequence(lambda n: f"Room {n + 1}")


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType
        django_get_or_create = ("name",)

    name = "Follow-up"
    duration_minutes = 20
    colour = Colour.BLUE


def working_week(provider, location, *, start=time(8), end=time(17), since: date | None = None):
    """Monday to Friday, 08:00-17:00 from `since` (default: a date well in the past)."""
    since = since or date(2020, 1, 1)
    return [
        WorkingHours.objects.create(
            provider=provider,
            location=location,
            weekday=d,
            start_time=start,
            end_time=end,
            effective_from=since,
        )
        for d in range(5)
    ]
