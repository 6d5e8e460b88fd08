"""The calendar pages run the same queries for 2 and for 20 appointments."""

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone


def _book(provider, appt_type, room, patients, day, n):
    """n appointments of `provider` on `day`, 20 minutes apart, one patient after another (rules not in play)."""
    from scheduling.models import Appointment
    from scheduling.recurrence import aware

    first = aware(datetime.combine(day, time(8, 0)))
    taken = Appointment.objects.filter(provider=provider).count()
    Appointment.objects.bulk_create(
        [
            Appointment(
                patient=patients[i % len(patients)],
                provider=provider,
                appointment_type=appt_type,
                location=room.location,
                room=room,
                start=first + timedelta(minutes=20 * (taken + i)),
                end=first + timedelta(minutes=20 * (taken + i + 1)),
            )
            for i in range(n)
        ]
    )


@pytest.mark.django_db
def test_calendar_pages_run_the_same_queries_for_2_and_20_appointments(
    login, front_desk, clinician, colleague, department, appt_type, room
):
    """The day (grid and list), the week, the home page and the iCalendar download read only the calendar's columns
    (scheduling.selectors._CALENDAR_SQL): a related row they show but the statement leaves out would cost a query a
    row."""
    from tests.factories import make_patient

    day = timezone.localdate() + timedelta(days=1)
    patients = [make_patient(department=department, given_name=f"Pat{i}") for i in range(20)]
    client = login(front_desk)
    urls = [
        reverse("scheduling:day_list") + f"?date={day}",
        reverse("scheduling:day_list") + f"?date={day}&view=list",
        reverse("scheduling:week") + f"?date={day}",
        reverse("home"),
        reverse("scheduling:provider_ical", args=[clinician.pk]),
    ]

    def counts():
        out = []
        for u in urls:
            with CaptureQueriesContext(connection) as ctx:
                resp = client.get(u)
            assert resp.status_code == 200, u
            out.append(len(ctx.captured_queries))
        return out

    _book(clinician, appt_type, room, patients, day, 1)
    _book(colleague, appt_type, room, patients[1:], day + timedelta(days=1), 1)
    counts()  # warm caches (session, content types)
    small = counts()
    assert ", Pat0" in client.get(urls[0]).content.decode()  # names shown: the desk may see these patients
    day_page = client.get(urls[1]).content.decode()
    # The list view: each row links to its patient's insurance page, by the URL's name (reverse), not a path written in the code.
    assert f'href="{reverse("patients:insurance", args=[patients[0].pk])}">insurance</a>' in day_page
    _book(clinician, appt_type, room, patients, day, 9)
    _book(colleague, appt_type, room, patients[1:], day + timedelta(days=1), 9)
    assert counts() == small
