"""The demo clinic's settings are visible and coherent on the clinic pages: its two locations and six rooms, every
provider's weekday hours, the five appointment types (all offered, each opening its own kind of visit), a note
template per visit type and US units."""

import random
from datetime import date

import pytest
from django.urls import reverse

from encounters import demo
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


def test_the_demo_clinic_reads_on_the_settings_pages(
    login, admin_user, front_desk, department, clinician, colleague
):
    patients = [
        make_patient(
            given_name=f"P{i}",
            family_name="Demo",
            ssn=f"555-00-{1000 + i}",
            department=department,
            birth_date=date(1960 + i, 1, 1),
        )
        for i in range(3)
    ]
    demo.demo_build(
        patients=patients, providers=[clinician, colleague], front_desk=front_desk, rng=random.Random(3)
    )
    client = login(admin_user)
    overview = client.get(reverse("clinic:overview")).content.decode()
    assert "2 locations in use, 6 rooms." in overview
    assert "5 of 5 appointment types offered when booking." in overview
    assert "Temperature in \u00b0F (Fahrenheit), weight in lb (pounds), height in in (inches)." in overview
    hours = client.get(reverse("clinic:hours")).content.decode()
    assert hours.count("08:00\u201317:00") == 10  # two providers, Monday to Friday
    types = client.get(reverse("clinic:types")).content.decode()
    for name, opens in [
        ("Video visit", "Telehealth visit"),
        ("Annual wellness", "Annual wellness"),
        ("Urgent same-day", "Urgent visit"),
    ]:
        row = types.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]
        assert opens in row and "Offered" in row
    templates = client.get(reverse("clinic:templates")).content.decode()
    for visit_type in ("Office visit", "Telehealth visit", "Telephone", "Urgent visit", "Annual wellness"):
        assert f"<h2>{visit_type}</h2>" in templates
