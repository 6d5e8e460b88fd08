"""The admin refuses bad working hours with sentences, not SQL."""

from datetime import date, time

import pytest

from scheduling.models import Location, WorkingHours


@pytest.mark.django_db
def test_admin_refuses_overlapping_and_reversed_working_hours(login, admin_user, clinician):
    loc = Location.objects.create(name="Main clinic")
    WorkingHours.objects.create(
        provider=clinician,
        location=loc,
        weekday=0,
        start_time=time(8),
        end_time=time(17),
        effective_from=date(2024, 1, 1),
    )
    client = login(admin_user)
    base = {"provider": clinician.pk, "location": loc.pk, "weekday": 0, "effective_from": "2025-01-01"}
    resp = client.post(
        "/admin/scheduling/workinghours/add/", {**base, "start_time": "16:00", "end_time": "19:00"}
    )
    body = resp.content.decode()
    assert resp.status_code == 200 and "overlap hours already set for this provider" in body
    resp = client.post(
        "/admin/scheduling/workinghours/add/", {**base, "start_time": "19:00", "end_time": "18:00"}
    )
    body = resp.content.decode()
    assert resp.status_code == 200 and "must be after their start" in body and "Constraint" not in body
    resp = client.post(
        "/admin/scheduling/workinghours/add/",
        {**base, "start_time": "08:00", "end_time": "12:00", "effective_to": "2024-06-01"},
    )
    assert "must not be before" in resp.content.decode()
    assert WorkingHours.objects.count() == 1
    resp = client.post(
        "/admin/scheduling/timeoff/add/",
        {
            "provider": clinician.pk,
            "kind": "time_off",
            "start_0": "2030-06-03",
            "start_1": "12:00",
            "end_0": "2030-06-03",
            "end_1": "09:00",
        },
    )
    assert "The end of the time off must be after its start." in resp.content.decode()
