"""Booking from anywhere: the plain recurrence controls (turned into an RRULE), the free slots shown at once on the
booking form, a slot picked on the calendar (find or register the patient, then book with the slot kept), and the
patient page's link."""

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Appointment
from scheduling.recurrence import aware, rrule_weekly


# ------------------------------------------------------------------ the RRULE of the plain controls
@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"every": 1, "days": ["MO"], "count": 6}, "FREQ=WEEKLY;BYDAY=MO;COUNT=6"),
        ({"every": 2, "days": ["WE", "MO"], "count": 4}, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=4"),
        (
            {"every": 3, "days": ["SU", "FR", "FR"], "until": date(2027, 3, 1)},
            "FREQ=WEEKLY;INTERVAL=3;BYDAY=FR,SU;UNTIL=20270301",
        ),
    ],
)
def test_rrule_weekly_builds_the_rule(kwargs, rule):
    assert rrule_weekly(**kwargs) == rule


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"every": 0, "days": ["MO"], "count": 3}, "every", "1 to 52"),
        ({"every": 53, "days": ["MO"], "count": 3}, "every", "1 to 52"),
        ({"every": 1, "days": [], "count": 3}, "on_days", "at least one day"),
        ({"every": 1, "days": ["XX"], "count": 3}, "on_days", "Monday to Sunday"),
        ({"every": 1, "days": ["MO"]}, "ends", "when the series ends"),
        ({"every": 1, "days": ["MO"], "count": 3, "until": date(2027, 1, 1)}, "ends", "when the series ends"),
        ({"every": 1, "days": ["MO"], "count": 1}, "count", "2 to 200"),
        ({"every": 1, "days": ["MO"], "count": 201}, "count", "2 to 200"),
    ],
)
def test_rrule_weekly_refuses_what_makes_no_series(kwargs, field, words):
    with pytest.raises(ValidationError) as exc:
        rrule_weekly(**kwargs)
    assert words in exc.value.message_dict[field][0]


def _monday(weeks=1) -> date:
    today = timezone.localdate()
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))


def _post(clinician, appt_type, start: datetime, **extra):
    return {
        "provider": clinician.pk,
        "appointment_type": appt_type.pk,
        "start": f"{start:%Y-%m-%dT%H:%M}",
        "reason": "Blood pressure",
        **extra,
    }


@pytest.mark.django_db
def test_booking_a_series_with_the_plain_controls(login, front_desk, clinician, patient, appt_type, hours):
    monday = _monday()
    data = _post(clinician, appt_type, datetime.combine(monday, time(9)))
    data |= {"repeat": "on", "every": "2", "on_days": ["MO", "TH"], "ends": "count", "count": "4"}
    resp = login(front_desk).post(reverse("scheduling:appointment_book", args=[patient.pk]), data)
    assert resp.status_code == 302
    starts = list(
        Appointment.objects.filter(patient=patient).order_by("start").values_list("start", flat=True)
    )
    at9 = lambda d: aware(datetime.combine(d, time(9)))  # noqa: E731
    assert starts == [
        at9(monday),
        at9(monday + timedelta(3)),
        at9(monday + timedelta(14)),
        at9(monday + timedelta(17)),
    ]
    assert Appointment.objects.filter(patient=patient).first().series.rrule == (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=4"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"on_days": ["TU"], "ends": "count", "count": "4"},
            "is on a Monday, which is not one of the chosen days",
        ),
        ({"on_days": [], "ends": "count", "count": "4"}, "Choose at least one day of the week."),
        ({"on_days": ["MO"], "ends": "count", "count": ""}, "Enter how many visits the series has."),
        ({"on_days": ["MO"], "ends": "until", "until": ""}, "Enter the date of the last visit."),
        (
            {"on_days": ["MO"], "ends": "until", "until": "2020-01-01"},
            "The last date is before the first visit.",
        ),
        ({"on_days": ["MO"], "ends": "count", "count": "1"}, "greater than or equal to 2"),
    ],
)
def test_a_refused_repeat_says_why_and_keeps_everything_typed(
    login, front_desk, clinician, patient, appt_type, hours, extra, message
):
    monday = _monday()
    data = _post(clinician, appt_type, datetime.combine(monday, time(9))) | {
        "repeat": "on",
        "every": "3",
        **extra,
    }
    resp = login(front_desk).post(reverse("scheduling:appointment_book", args=[patient.pk]), data)
    body = resp.content.decode()
    assert resp.status_code == 200 and message in body.replace("&#x27;", "'")
    assert not Appointment.objects.filter(patient=patient).exists()
    # Everything typed is still there.
    assert f'value="{monday:%Y-%m-%d}T09:00"' in body and 'value="Blood pressure"' in body
    assert 'name="every" value="3"' in body and 'name="repeat" id="id_repeat" checked' in body
    for d in extra.get("on_days", []):
        assert re.search(f'name="on_days" value="{d}"[^>]*checked', body)


# ------------------------------------------------------------------ free slots at once
@pytest.mark.django_db
def test_the_booking_form_shows_free_slots_at_once_for_a_prefilled_slot(
    login, front_desk, clinician, patient, appt_type, hours
):
    day = timezone.localdate() + timedelta(days=3)
    url = reverse("scheduling:appointment_book", args=[patient.pk])
    query = f"?provider={clinician.pk}&appointment_type={appt_type.pk}&start={day}T10:20"
    body = login(front_desk).get(url + query).content.decode()
    assert f'value="{day}T10:20"' in body  # the start is filled in
    assert f'<option value="{clinician.pk}" selected>' in body
    assert f'data-fill-value="{day}T07:00"' in body  # the free slots of that day, clickable
    # Without provider and type: an invitation, no slots.
    body = login(front_desk).get(url).content.decode()
    assert "Choose the provider and the type" in body and 'data-testid="slot"' not in body


@pytest.mark.django_db
def test_slots_fragment_follows_provider_type_and_day(
    login, front_desk, clinician, patient, appt_type, hours
):
    day = timezone.localdate() + timedelta(days=5)
    Appointment.objects.create(
        patient=patient,
        provider=clinician,
        appointment_type=appt_type,
        start=aware(datetime.combine(day, time(7))),
        end=aware(datetime.combine(day, time(7, 20))),
    )
    q = {"provider": clinician.pk, "appointment_type": appt_type.pk, "start": f"{day}T"}
    body = login(front_desk).get(reverse("scheduling:slots"), q).content.decode()
    assert f'data-fill-value="{day}T07:20"' in body and f'data-fill-value="{day}T07:00"' not in body
    assert body.count('data-testid="slot"') == 12
    body = login(front_desk).get(reverse("scheduling:slots"), {"provider": "x"}).content.decode()
    assert 'data-testid="slot"' not in body


# ------------------------------------------------------------------ a slot picked on the calendar
@pytest.mark.django_db
def test_a_picked_slot_finds_the_patient_and_opens_the_form_filled_in(
    login, front_desk, clinician, patient, appt_type, hours
):
    day = timezone.localdate() + timedelta(days=2)
    slot = f"provider={clinician.pk}&start={day}T11:40&appointment_type={appt_type.pk}"
    client = login(front_desk)
    body = client.get(reverse("scheduling:book_slot") + f"?{slot}&q={patient.family_name}").content.decode()
    assert "Alice Able" in body and "11:40" in body and patient.display_name in body
    book = reverse("scheduling:appointment_book", args=[patient.pk])
    assert f'href="{book}?provider={clinician.pk}&amp;start={day}T11%3A40' in body
    resp = client.get(reverse("scheduling:book_slot") + f"?{slot}&patient={patient.pk}")
    assert resp.status_code == 302 and resp.url.startswith(book + "?")
    resp = client.get(reverse("scheduling:book_slot") + f"?{slot}&patient=not-a-uuid")
    assert resp.status_code == 200  # back to the search, not a 500


@pytest.mark.django_db
def test_registering_from_a_picked_slot_comes_back_to_book_it(login, front_desk, clinician, appt_type, hours):
    from patients.models import Patient

    day = timezone.localdate() + timedelta(days=2)
    back = reverse("scheduling:book_slot") + f"?provider={clinician.pk}&start={day}T11:40"
    client = login(front_desk)
    page = client.get(reverse("scheduling:book_slot") + f"?provider={clinician.pk}&start={day}T11:40")
    assert "Register a new patient" in page.content.decode()
    data = {
        "given_name": "Nora",
        "family_name": "Newcomer",
        "birth_date": "1990-04-02",
        "sex_at_birth": "F",
        "preferred_language": "en",
    }
    from urllib.parse import urlencode

    resp = client.post(reverse("patients:register") + "?" + urlencode({"next": back}), data)
    assert resp.status_code == 302, resp.content.decode()[:2000]
    nora = Patient.objects.get(family_name="Newcomer")
    assert resp.url == f"{back}&patient={nora.pk}"
    resp = client.get(resp.url)
    assert resp.url == reverse("scheduling:appointment_book", args=[nora.pk]) + (
        f"?provider={clinician.pk}&start={day}T11%3A40"
    )
    # An address elsewhere is not followed.
    data["family_name"], data["given_name"], data["birth_date"] = "Other", "Olga", "1971-02-03"
    resp = client.post(reverse("patients:register") + "?next=https://evil.example/", data)
    assert resp.status_code == 302 and "/insurance/" in resp.url


@pytest.mark.django_db
def test_the_patient_page_links_to_booking(login, front_desk, nurse, privacy, patient):
    body = login(front_desk).get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert f'href="{reverse("scheduling:appointment_book", args=[patient.pk])}"' in body
    assert "Book appointment" in body
