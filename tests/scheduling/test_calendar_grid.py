"""The day and week calendars as time grids: blocks, free slots to click, the now-line, the provider filter, the
patient flow's steps in place (htmx), the grid's refresh fragment, and constant queries as the day fills."""

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling import services as sched_services
from scheduling.models import Appointment, AppointmentStatus
from scheduling.recurrence import aware
from tests.factories import make_patient
from tests.scheduling.fixtures import open_hours

HX = {"HTTP_HX_REQUEST": "true"}


def _at(day, h, m=0):
    return aware(datetime.combine(day, time(h, m)))


def _bulk(provider, appt_type, patients, day, n, *, first=time(7, 0)):
    """n back-to-back appointments of `provider` on `day` from `first` (the rules are not in play)."""
    start = _at(day, first.hour, first.minute)
    Appointment.objects.bulk_create(
        [
            Appointment(
                patient=patients[i % len(patients)],
                provider=provider,
                appointment_type=appt_type,
                start=start + timedelta(minutes=10 * i),
                end=start + timedelta(minutes=10 * (i + 1)),
            )
            for i in range(n)
        ]
    )


@pytest.mark.django_db
def test_day_grid_shows_blocks_free_slots_and_a_provider_column_each(
    login, front_desk, clinician, colleague, patient, appt_type, hours
):
    open_hours(colleague, start=time(9), end=time(12))
    day = timezone.localdate() + timedelta(days=1)
    appt = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=_at(day, 9),
    )
    body = login(front_desk).get(reverse("scheduling:day_list") + f"?date={day}").content.decode()
    assert body.count('data-testid="cal-head"') == 2 and "Alice Able" in body and "Bob Baker" in body
    assert f'id="appt-{appt.pk}"' in body and patient.display_name in body and "Follow-up" in body
    # Free slots: the clinician's 07:00-19:00 minus the booked 09:00; the colleague's 09:00-12:00.
    free = body.count('data-testid="cal-free"')
    assert free == (12 * 3 - 1) + 3 * 3
    assert f"provider={clinician.pk}&amp;start={day}T09%3A20" in body  # the slot after the booked one
    assert f"provider={clinician.pk}&amp;start={day}T09%3A00" not in body  # taken
    assert 'data-testid="cal-now"' not in body  # tomorrow: no now-line
    # The filter: only the colleague's column.
    body = login(front_desk).get(reverse("scheduling:day_list") + f"?date={day}&provider={colleague.pk}")
    body = body.content.decode()
    assert (
        body.count('data-testid="cal-head"') == 1 and "Bob Baker" in body and patient.display_name not in body
    )


@pytest.mark.django_db
def test_today_has_a_now_line_and_no_free_slot_before_now(clinician, colleague, hours):
    """grid.build at 10:30 today: the now-line 3.5 hours below the first row (07:00), across today's columns; no
    free slot before 10:40 today; tomorrow's column (a week) has no line and all its slots."""
    from scheduling import grid
    from scheduling.selectors import calendar_frames

    today = timezone.localdate()
    days = [today, today + timedelta(days=1)]
    hrs, offs = calendar_frames(provider_ids=[clinician.pk, colleague.pk], first=days[0], last=days[1])
    g = grid.build(
        days=days,
        providers=[clinician, colleague],
        items=[],
        hours=hrs,
        offs=offs,
        step=20,
        length=20,
        now=_at(today, 10, 30),
    )
    assert (g.first, g.last, g.now) == (7 * 60, 19 * 60, 210)
    able_today, baker_today, able_tomorrow, _ = g.columns
    assert able_today.free[0].start == datetime.combine(today, time(10, 40)) and not baker_today.free
    assert len(able_tomorrow.free) == 36
    assert [h for _, h in g.hours][:2] == ["07:00", "08:00"]
    # At 19:30 the line is below the grid: none.
    late = grid.build(
        days=days,
        providers=[clinician],
        items=[],
        hours=hrs,
        offs=offs,
        step=20,
        length=20,
        now=_at(today, 19, 30),
    )
    assert late.now is None


@pytest.mark.django_db
def test_time_off_and_blocks_are_drawn_and_offer_no_slot(login, front_desk, clinician, hours):
    from scheduling.calendars import time_off_add

    day = timezone.localdate() + timedelta(days=2)
    time_off_add(
        actor=front_desk,
        provider=clinician,
        kind="block",
        start=_at(day, 10),
        end=_at(day, 11),
        reason="Team",
    )
    body = login(front_desk).get(reverse("scheduling:day_list") + f"?date={day}").content.decode()
    assert "Blocked · Team" in body
    assert f"start={day}T10%3A20" not in body and f"start={day}T11%3A00" in body


@pytest.mark.django_db
def test_week_grid_is_one_provider_by_default_and_several_on_request(
    login, front_desk, clinician, colleague, patient, appt_type, hours
):
    day = timezone.localdate() + timedelta(days=7)
    monday = day - timedelta(days=day.weekday())
    sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=_at(day, 9),
    )
    client = login(front_desk)
    body = client.get(reverse("scheduling:week") + f"?date={day}").content.decode()
    assert body.count('data-testid="cal-head"') == 7  # the clinician works every day: the weekend shows
    assert patient.display_name in body and f"{monday:%a} {monday.day} {monday:%b}" in body
    assert "cal-steps" not in body  # the week is for planning: no patient-flow buttons
    url = reverse("scheduling:week") + f"?date={day}&provider={clinician.pk}&provider={colleague.pk}"
    body = client.get(url).content.decode()
    assert body.count('data-testid="cal-head"') == 14 and "Bob Baker" in body
    # The previous / next week links keep the filter.
    assert f"provider={clinician.pk}&amp;provider={colleague.pk}" in body.replace(
        "&provider", "&amp;provider"
    )


@pytest.mark.django_db
def test_the_grid_refresh_is_the_fragment_only(login, front_desk, clinician, hours):
    day = timezone.localdate() + timedelta(days=1)
    url = reverse("scheduling:day_list") + f"?date={day}&provider={clinician.pk}"
    resp = login(front_desk).get(url, HTTP_HX_TARGET="cal-refresh", **HX)
    body = resp.content.decode()
    assert body.startswith('<div id="cal-refresh"') and "<html" not in body
    assert f'hx-get="{url}"' in body.replace("&amp;", "&")  # the refresh keeps the filter
    assert 'hx-trigger="every 60s"' in body


@pytest.mark.django_db
def test_check_in_from_the_grid_answers_the_block_in_place(
    login, front_desk, clinician, patient, appt_type, hours
):
    from encounters.models import Encounter

    day = timezone.localdate() + timedelta(days=1)
    appt = sched_services.appointment_book(
        actor=front_desk,
        patient_id=patient.pk,
        provider=clinician,
        appointment_type=appt_type,
        start=_at(day, 9),
    )
    url = reverse("scheduling:appointment_advance", args=[appt.pk])
    post = {"status": "checked_in", "kind": "block", "pos": "122,20,2,0", "date": str(day), "next": "day"}
    resp = login(front_desk).post(url, post, **HX)
    body = resp.content.decode()
    assert (
        resp.status_code == 200 and body.startswith('<div class="cal-appt') and f'id="appt-{appt.pk}"' in body
    )
    assert 'data-r="122" data-s="20" data-c="2"' in body and ">Checked in</span>" in body
    assert 'value="in_room"' in body  # the next steps
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.CHECKED_IN and Encounter.objects.filter(appointment=appt).exists()
    # A step the flow does not allow: the block again, with the reason, nothing changed.
    resp = login(front_desk).post(url, {**post, "status": "done"}, **HX)
    assert "cannot become" in resp.content.decode() and 'role="alert"' in resp.content.decode()
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.CHECKED_IN
    # From the list view: the row comes back.
    resp = login(front_desk).post(url, {"status": "in_room", "kind": "row", "date": str(day)}, **HX)
    assert resp.content.decode().startswith('<tr class="appt') and ">In room</span>" in resp.content.decode()


@pytest.mark.django_db
def test_the_flow_in_place_keeps_the_door(
    login, front_desk, privacy, colleague, clinician, other_patient, appt_type
):
    """The same checks as the page's form: an outsider gets 404, a role without the permission 403/404."""
    open_hours(clinician)
    day = timezone.localdate() + timedelta(days=1)
    appt = Appointment.objects.create(
        patient=other_patient,
        provider=clinician,
        appointment_type=appt_type,
        start=_at(day, 9),
        end=_at(day, 9, 20),
    )
    url = reverse("scheduling:appointment_advance", args=[appt.pk])
    for user in (front_desk, colleague, privacy):
        resp = login(user).post(url, {"status": "arrived", "kind": "block", "pos": "2,20,2,0"}, **HX)
        assert resp.status_code in (403, 404), user
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.SCHEDULED


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["scheduling:day_list", "scheduling:week"])
def test_grid_queries_do_not_grow_with_appointments(
    login, front_desk, clinician, colleague, department, appt_type, page
):
    open_hours(clinician)
    open_hours(colleague)
    day = timezone.localdate() + timedelta(days=1)
    patients = [make_patient(department=department, given_name=f"Pat{i}") for i in range(10)]
    client = login(front_desk)
    url = reverse(page) + f"?date={day}&provider={clinician.pk}&provider={colleague.pk}"

    def count():
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get(url)
        assert resp.status_code == 200
        return len(ctx.captured_queries), resp.content.decode().count('data-testid="cal-appt"')

    _bulk(clinician, appt_type, patients, day, 3)
    _bulk(colleague, appt_type, patients, day, 2)
    count()  # warm
    small, shown = count()
    assert shown == 5
    _bulk(clinician, appt_type, patients, day, 25, first=time(8))
    _bulk(colleague, appt_type, patients, day, 20, first=time(8))
    big, shown = count()
    assert shown == 50 and big == small
