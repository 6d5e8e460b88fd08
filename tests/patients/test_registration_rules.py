"""Registration a front desk can finish (issue 17 item 7): no pre-selected sex, a language list, E.164 phones, one
character rule for every name field, impossible dates said so, and nothing typed lost on an error."""

from pathlib import Path

import pytest
from django.urls import reverse

from patients.forms import PatientForm, clean_phone
from patients.models import Patient

pytestmark = pytest.mark.django_db

URL = reverse("patients:register")


def form_data(**kw):
    data = {
        "given_name": "Lena",
        "family_name": "Novak",
        "birth_date": "1988-05-17",
        "sex_at_birth": "F",
        "preferred_language": "en",
    }
    data.update(kw)
    return data


def test_sex_is_not_preselected_and_is_required(login, front_desk):
    body = login(front_desk).get(URL).content.decode()
    select = body[
        body.index('name="sex_at_birth"') : body.index("</select>", body.index('name="sex_at_birth"'))
    ]
    assert '<option value="" selected>Choose …</option>' in select
    assert select.count("selected") == 1
    form = PatientForm(form_data(sex_at_birth=""))
    assert not form.is_valid()
    assert form.errors["sex_at_birth"] == ["Choose the sex assigned at birth."]


def test_language_is_chosen_from_names_common_first_and_stored_as_code(login, front_desk):
    body = login(front_desk).get(URL).content.decode()
    start = body.index('name="preferred_language"')
    select = body[start : body.index("</select>", start)]
    order = [select.index(f">{name}<") for name in ("English", "Spanish", "Chinese", "Vietnamese", "Tagalog")]
    assert order == sorted(order)
    assert select.index(">Haitian Creole<") < select.index(">Afrikaans<")  # common ones before the rest
    resp = login(front_desk).post(URL, form_data(preferred_language="ht"))
    assert resp.status_code == 302
    assert Patient.objects.get().preferred_language == "ht"
    assert PatientForm(form_data(preferred_language="klingon")).errors["preferred_language"]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(202) 555-0143", "+12025550143"),
        ("202.555.0143", "+12025550143"),
        ("+1 202 555 0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_is_stored_in_e164(typed, stored):
    assert clean_phone(typed) == stored


@pytest.mark.parametrize("typed", ["555-1234", "call me", "(000) 555-0143", "+1 202 555 01439999"])
def test_invalid_phone_gets_a_clear_message(login, front_desk, typed):
    resp = login(front_desk).post(URL, form_data(phone_mobile=typed))
    assert resp.status_code == 200 and not Patient.objects.exists()
    body = resp.content.decode()
    assert "is not a valid phone number" in body or "is not a phone number" in body


def test_a_stored_number_from_before_e164_is_shown_and_kept_unchanged(login, front_desk, patient):
    # `patient` was stored with "555-010-2000" (not a valid number): editing anything else keeps it as it is.
    client = login(front_desk)
    assert "555-010-2000" in client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    form = client.get(reverse("patients:edit", args=[patient.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v not in (None, [])}
    data["occupation"] = "Teacher"
    assert client.post(reverse("patients:edit", args=[patient.pk]), data).status_code == 302
    patient.refresh_from_db()
    assert patient.phones == [{"use": "mobile", "value": "555-010-2000"}] and patient.occupation == "Teacher"


def test_e164_number_is_shown_in_national_format_on_the_chart(login, front_desk):
    client = login(front_desk)
    client.post(URL, form_data(phone_mobile="2025550143"))
    p = Patient.objects.get()
    assert "(202) 555-0143" in client.get(reverse("patients:detail", args=[p.pk])).content.decode()


@pytest.mark.parametrize(
    "field",
    [
        "given_name",
        "middle_name",
        "family_name",
        "preferred_name",
        "previous_given_name",
        "previous_family_name",
        "suffix",
        "emergency_name",
    ],
)
@pytest.mark.parametrize("bad", ["R2D2", "<b>x</b>", "a@b", "x{y}"])
def test_every_name_field_has_the_same_character_rule(field, bad):
    extra = {"previous_given_name": "Ann", "previous_family_name": "Lee"}
    form = PatientForm(form_data(**{**extra, field: bad}))
    assert not form.is_valid()
    assert "letters, spaces, hyphens, apostrophes and periods only" in " ".join(form.errors[field])


@pytest.mark.parametrize("field", ["suffix", "emergency_name", "middle_name"])
def test_names_with_apostrophes_hyphens_and_periods_are_accepted(field):
    form = PatientForm(form_data(**{field: "O'Neil-Smith Jr."}))
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2023-02-31", "31 February 2023 does not exist."),
        ("2024-04-31", "31 April 2024 does not exist."),
        ("02/30/2020", "30 February 2020 does not exist."),
        ("2020-13-01", "There is no month 13"),
    ],
)
def test_an_impossible_typed_date_says_so(typed, message):
    form = PatientForm(form_data(birth_date=typed))
    assert form.errors["birth_date"] == [message] or message in form.errors["birth_date"][0]


def test_leap_day_is_a_real_date():
    assert PatientForm(form_data(birth_date="2020-02-29")).is_valid()


def test_the_date_input_flag_for_an_unreadable_date_says_so_instead_of_asking_for_one():
    # A browser's date input sends "" for 31 February; static/js/app.js adds birth_date__bad=1.
    form = PatientForm(form_data(birth_date="", birth_date__bad="1"))
    assert "you typed does not exist" in form.errors["birth_date"][0]
    form = PatientForm(form_data(birth_date=""))
    assert form.errors["birth_date"] == ["Enter the date of birth."]


def test_a_validation_error_keeps_everything_typed(login, front_desk):
    typed = form_data(
        middle_name="Maria",
        preferred_name="Leni",
        phone_mobile="555-1234",  # the error
        email="lena@example.test",
        address_line="12 Elm Street",
        address_city="Springfield",
        address_state="IL",
        emergency_name="Pat Novak",
        preferred_language="vi",
    )
    resp = login(front_desk).post(URL, typed)
    assert resp.status_code == 200 and not Patient.objects.exists()
    body = resp.content.decode()
    for value in (
        "Maria",
        "Leni",
        "555-1234",
        "lena@example.test",
        "12 Elm Street",
        "Springfield",
        "Pat Novak",
    ):
        assert f'value="{value}"' in body, value
    assert '<option value="vi" selected>' in body and '<option value="F" selected>' in body


def test_long_values_wrap_instead_of_widening_the_page():
    css = Path("static/css/app.css").read_text()
    assert "overflow-wrap: anywhere" in css and ".chart-grid.summary-grid" in css
