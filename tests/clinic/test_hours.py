"""The working-hours grid (issue 17 item 9): blocks per day, the week replaced from today with history kept, and
refused input (end before start, overlaps, half-filled blocks) named per day with everything typed kept."""

from datetime import time, timedelta

import pytest
from django.urls import reverse

from clinic import selectors, services
from clinic.services import Block
from scheduling.models import WorkingHours
from tests.scheduling.factories import LocationFactory, working_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def main():
    return LocationFactory(name="Main clinic")


@pytest.fixture
def east():
    return LocationFactory(name="Eastside office")


def grid_post(blocks: dict) -> dict:
    """{(day, k): (start, end, location)} -> the grid's form data (every other block empty)."""
    data = {}
    for (day, k), (start, end, loc) in blocks.items():
        data[f"d{day}_{k}_start"] = start
        data[f"d{day}_{k}_end"] = end
        data[f"d{day}_{k}_location"] = str(loc.pk) if loc else ""
    return data


def test_replacing_the_week_keeps_unchanged_rows_and_ends_the_others(admin_user, clinician, main, east):
    since = selectors.clinic_today() - timedelta(days=100)
    working_week(clinician, main, since=since)  # Mon-Fri 08:00-17:00
    today = selectors.clinic_today()
    blocks = [Block(d, time(8), time(17), main.pk) for d in (0, 1, 3, 4)]  # Wednesday changes:
    blocks += [Block(2, time(8), time(12), main.pk), Block(2, time(13), time(17), east.pk)]
    counts = services.hours_replace(actor=admin_user, provider=clinician, blocks=blocks)
    assert counts == {"kept": 4, "ended": 1, "removed": 0, "added": 2}
    wed = WorkingHours.objects.filter(provider=clinician, weekday=2).order_by("effective_from", "start_time")
    old, am, pm = list(wed)
    # The old Wednesday still says what was true for past visits; the new blocks start today.
    assert (old.effective_from, old.effective_to) == (since, today - timedelta(days=1))
    assert (am.start_time, am.end_time, am.location_id, am.effective_from) == (
        time(8),
        time(12),
        main.pk,
        today,
    )
    assert (pm.location_id, pm.effective_to) == (east.pk, None)
    # Saving the same grid again changes nothing.
    again = services.hours_replace(actor=admin_user, provider=clinician, blocks=blocks)
    assert again == {"kept": 6, "ended": 0, "removed": 0, "added": 0}


def test_rows_starting_today_or_later_are_removed_not_ended(admin_user, clinician, main):
    today = selectors.clinic_today()
    WorkingHours.objects.create(
        provider=clinician,
        location=main,
        weekday=5,
        start_time=time(9),
        end_time=time(12),
        effective_from=today,
    )
    counts = services.hours_replace(actor=admin_user, provider=clinician, blocks=[])
    assert counts["removed"] == 1 and not WorkingHours.objects.filter(provider=clinician).exists()


def test_the_grid_page_saves_blocks_and_shows_them(login, admin_user, clinician, main, east):
    client = login(admin_user)
    url = reverse("clinic:provider_hours", args=[clinician.pk])
    resp = client.post(
        url,
        grid_post(
            {
                (0, 0): ("08:00", "12:00", main),
                (0, 1): ("13:00", "17:30", east),
                (4, 0): ("09:00", "13:00", main),
            }
        ),
    )
    assert resp.status_code == 302
    rows = sorted(
        WorkingHours.objects.filter(provider=clinician).values_list("weekday", "start_time", "end_time")
    )
    assert rows == [(0, time(8), time(12)), (0, time(13), time(17, 30)), (4, time(9), time(13))]
    page = client.get(url).content.decode()
    assert 'value="13:00"' in page and 'value="17:30"' in page
    summary = client.get(reverse("clinic:hours")).content.decode()
    assert "08:00\u201312:00, 13:00\u201317:30" in summary


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        (
            {(1, 0): ("12:00", "09:00", "main")},
            "Tuesday, block 1: the end (09:00) must be after the start (12:00).",
        ),
        (
            {(1, 0): ("08:00", "12:00", "main"), (1, 1): ("11:00", "14:00", "main")},
            "Tuesday: 08:00\u201312:00 and 11:00\u201314:00 overlap.",
        ),
        ({(1, 0): ("08:00", "", "main")}, "Tuesday, block 1: give both a start and an end."),
        ({(1, 0): ("08:00", "12:00", None)}, "Tuesday, block 1: choose where the hours are worked."),
        ({(1, 0): ("8 o'clock", "12:00", "main")}, "Tuesday, block 1: type times as HH:MM, e.g. 08:30."),
    ],
)
def test_refused_grid_names_the_day_saves_nothing_and_keeps_what_was_typed(
    login, admin_user, clinician, main, blocks, message
):
    working_week(clinician, main)
    before = list(WorkingHours.objects.order_by("pk").values())
    typed = {k: (s, e, main if loc == "main" else None) for k, (s, e, loc) in blocks.items()}
    # Another day typed correctly in the same post is kept on the page too.
    typed[(3, 0)] = ("07:15", "15:45", main)
    resp = login(admin_user).post(reverse("clinic:provider_hours", args=[clinician.pk]), grid_post(typed))
    assert resp.status_code == 400
    body = resp.content.decode()
    assert message.replace("'", "&#x27;") in body or message in body
    assert "nothing was saved" in body
    assert 'value="07:15"' in body and 'value="15:45"' in body
    for (day, k), (start, end, _) in typed.items():
        if start and ":" in start:
            assert f'value="{start}"' in body
        if start and ":" not in start:
            assert "8 o&#x27;clock" in body
    assert list(WorkingHours.objects.order_by("pk").values()) == before


def npi(i: int) -> str:
    """A valid NPI (Luhn over the 80840 prefix and the first nine digits)."""
    base = f"{100000000 + i * 7919:09d}"
    digits = [int(c) for c in "80840" + base]
    total = 0
    for k, d in enumerate(reversed(digits)):
        if k % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return base + str((10 - total % 10) % 10)


def test_the_providers_page_reads_in_constant_queries(login, admin_user, clinician, main):
    from tests.factories import PractitionerFactory, UserFactory

    working_week(clinician, main)
    client = login(admin_user)
    client.get(reverse("clinic:hours"))

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("clinic:hours")).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(6):
        p = PractitionerFactory(user=UserFactory(username=f"dr.n{i}", roles=["clinician"]), npi=npi(i)).user
        working_week(p, main)
    assert count() == few
