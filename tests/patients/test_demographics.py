"""USCDI v3 demographics on the registration and edit pages and on the chart: sexual orientation, tribal
affiliation, occupation and its industry, previous names (given and family) and previous addresses; race shown by
name; no date of death in the future (form and database)."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient
from tests.factories import make_patient

pytestmark = pytest.mark.django_db

REGISTER = reverse("patients:register")


def form_data(**kw):
    data = {
        "given_name": "Ayasha",
        "family_name": "Begay",
        "birth_date": "1984-09-12",
        "sex_at_birth": "F",
        "preferred_language": "en",
        "race": ["1002-5", "2106-3"],
        "ethnicity": "2186-5",
        "sexual_orientation": "42035005",
        "tribal_affiliation": "Navajo Nation",
        "occupation": "Registered nurse",
        "occupation_industry": "Hospitals",
        "previous_given_name": "Ayasha",
        "previous_family_name": "Yazzie",
        "address_line": "12 Elm Street",
        "address_city": "Gallup",
        "address_state": "NM",
        "address_postal": "87301",
        "prev_address_line": "4 Mesa Road",
        "prev_address_city": "Window Rock",
        "prev_address_state": "AZ",
        "prev_address_postal": "86515",
    }
    data.update(kw)
    return data


def test_register_records_the_uscdi_v3_demographics_and_the_chart_shows_them(login, front_desk):
    resp = login(front_desk).post(REGISTER, form_data())
    assert resp.status_code == 302
    p = Patient.objects.get(family_name="Begay")
    assert p.sexual_orientation == "42035005" and p.tribal_affiliation == "Navajo Nation"
    assert p.occupation == "Registered nurse" and p.occupation_industry == "Hospitals"
    assert p.previous_names == [{"given": "Ayasha", "family": "Yazzie"}]
    assert [a["use"] for a in p.addresses] == ["home", "old"]
    assert p.previous_addresses[0]["city"] == "Window Rock"

    body = login(front_desk).get(p.get_absolute_url()).content.decode()
    assert "American Indian or Alaska Native, White" in body
    assert "1002-5" not in body and "2106-3" not in body  # codes are not for people
    assert "Bisexual" in body and "Navajo Nation" in body and "Registered nurse (Hospitals)" in body
    assert "Ayasha Yazzie" in body and "4 Mesa Road, Window Rock AZ 86515" in body
    assert "12 Elm Street, Gallup NM 87301" in body


def test_previous_names_need_both_parts(login, front_desk):
    for missing in ("previous_given_name", "previous_family_name"):
        resp = login(front_desk).post(REGISTER, form_data(**{missing: ""}))
        assert resp.status_code == 200 and missing in resp.context["form"].errors
    assert not Patient.objects.exists()


def test_edit_shows_and_keeps_the_earlier_history(login, front_desk, department):
    p = make_patient(
        department=department,
        given_name="Ayasha",
        family_name="Begay",
        previous_names=[{"given": "Ayasha", "family": "Yazzie"}, {"given": "Aya", "family": "Tso"}],
        addresses=[
            {"use": "home", "line": "12 Elm Street", "city": "Gallup", "state": "NM", "postal_code": "87301"},
            {
                "use": "old",
                "line": "4 Mesa Road",
                "city": "Window Rock",
                "state": "AZ",
                "postal_code": "86515",
            },
            {"use": "old", "line": "9 Canyon Way", "city": "Chinle", "state": "AZ", "postal_code": "86503"},
        ],
    )
    client = login(front_desk)
    form = client.get(reverse("patients:edit", args=[p.pk])).context["form"]
    assert (
        form.initial["previous_family_name"] == "Yazzie"
        and form.initial["prev_address_city"] == "Window Rock"
    )
    data = {k: v for k, v in form.initial.items() if v not in (None, [])}
    data.update(occupation="Teacher", prev_address_line="5 Mesa Road")
    resp = client.post(reverse("patients:edit", args=[p.pk]), data)
    assert resp.status_code == 302
    p.refresh_from_db()
    assert p.occupation == "Teacher"
    assert p.previous_names == [{"given": "Ayasha", "family": "Yazzie"}, {"given": "Aya", "family": "Tso"}]
    assert [a["line"] for a in p.previous_addresses] == ["5 Mesa Road", "9 Canyon Way"]
    assert [a["line"] for a in p.current_addresses] == ["12 Elm Street"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sexual_orientation", "hacker", "Select a valid choice"),
        ("tribal_affiliation", "<b>Nation</b>", "cannot contain"),
        ("occupation", "x" * 201, "at most 200 characters"),
        ("prev_address_state", "Arizona", "at most 2 characters"),
        ("previous_family_name", "Yazzie{}", "letters, spaces, hyphens"),
    ],
)
def test_bad_input_gets_a_clear_message(login, front_desk, field, value, message):
    resp = login(front_desk).post(REGISTER, form_data(**{field: value}))
    assert resp.status_code == 200 and message in resp.content.decode()
    assert not Patient.objects.exists()


def test_a_date_of_death_in_the_future_is_refused(login, front_desk, patient):
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    resp = login(front_desk).post(REGISTER, form_data(deceased_date=tomorrow))
    assert resp.status_code == 200 and "cannot be in the future" in resp.content.decode()
    assert not Patient.objects.filter(family_name="Begay").exists()
    ok = login(front_desk).post(REGISTER, form_data(deceased_date=timezone.localdate().isoformat()))
    assert ok.status_code == 302


def test_the_database_refuses_a_date_of_death_in_the_future(patient):
    with pytest.raises(IntegrityError, match="patient_deceased_not_future"), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(
            deceased_date=timezone.localdate() + datetime.timedelta(days=3)
        )
