"""Clinic settings (issue 17 item 9): the practice admin edits locations, rooms, appointment types, note templates
and units from /clinic/; staff without the permission get the 403 page naming what they may not do (recorded as
denied), unknown ids a 404; bad input is refused with a message and everything typed; each write is audited; booking
offers only offered types and rooms in use; the vitals form and the chart follow the units."""

import uuid

import pytest
from django.urls import reverse

from audit.models import AccessEvent, Outcome
from encounters.models import ClinicUnits, NoteTemplate
from scheduling.models import AppointmentType, Location, Room
from tests.scheduling.factories import AppointmentTypeFactory, LocationFactory, RoomFactory, working_week

pytestmark = pytest.mark.django_db


def body(resp) -> str:
    return resp.content.decode()


def writes(model: str):
    return AccessEvent.objects.filter(channel="write", detail__model=model)


# ------------------------------------------------------------------ who may
@pytest.mark.parametrize(
    ("url", "action"),
    [
        ("clinic:overview", "change the clinic's settings"),
        ("clinic:locations", "change the clinic's locations and rooms"),
        ("clinic:hours", "change providers' working hours"),
        ("clinic:types", "change the appointment types"),
        ("clinic:templates", "change the note templates"),
        ("clinic:units", "change the clinic's units"),
    ],
)
def test_staff_without_the_permission_get_the_403_page_and_it_is_recorded(login, nurse, url, action):
    resp = login(nurse).get(reverse(url))
    assert resp.status_code == 403
    assert f"You do not have permission to {action}." in body(resp).replace("&#x27;", "'")
    assert AccessEvent.objects.filter(
        actor=nurse, outcome=Outcome.DENIED, category="clinic settings"
    ).exists()


def test_a_refused_write_changes_nothing(login, front_desk):
    atype = AppointmentTypeFactory(name="Follow-up")
    resp = login(front_desk).post(reverse("clinic:type_offered", args=[atype.pk]), {"offered": "0"})
    assert resp.status_code == 403
    atype.refresh_from_db()
    assert atype.offered is True


def test_unknown_ids_are_404(login, admin_user):
    client = login(admin_user)
    for name, kwargs in [
        ("clinic:location", {"location_id": uuid.uuid4()}),
        ("clinic:type_edit", {"type_id": uuid.uuid4()}),
        ("clinic:template_edit", {"template_id": 999999}),
        ("clinic:provider_hours", {"provider_id": 999999}),
    ]:
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 404
    loc = LocationFactory(name="Main clinic")
    other = RoomFactory(location=LocationFactory(name="Eastside office"), name="Room A")
    # A room is reached only through its own location.
    assert client.post(reverse("clinic:room", args=[loc.pk, other.pk]), {"active": "0"}).status_code == 404


def test_home_and_nav_lead_the_practice_admin_there_and_nobody_else(login, admin_user, nurse):
    home = body(login(admin_user).get(reverse("home")))
    assert 'data-testid="clinic-settings-panel"' in home
    assert f'href="{reverse("clinic:overview")}"' in home and f'href="{reverse("clinic:units")}"' in home
    home = body(login(nurse).get(reverse("home")))
    assert "clinic-settings-panel" not in home and reverse("clinic:overview") not in home


# ------------------------------------------------------------------ locations and rooms
def test_locations_rooms_added_renamed_and_closed_audited(login, admin_user):
    client = login(admin_user)
    resp = client.post(reverse("clinic:locations"), {"name": "Northside", "address": "9 North Rd"})
    loc = Location.objects.get(name="Northside")
    assert resp.status_code == 302 and resp.url == reverse("clinic:location", args=[loc.pk])
    assert client.post(reverse("clinic:room_add", args=[loc.pk]), {"name": "Room 1"}).status_code == 302
    room = Room.objects.get(location=loc)
    assert client.post(reverse("clinic:room", args=[loc.pk, room.pk]), {"name": "Exam 1"}).status_code == 302
    assert client.post(reverse("clinic:room", args=[loc.pk, room.pk]), {"active": "0"}).status_code == 302
    room.refresh_from_db()
    assert (room.name, room.active) == ("Exam 1", False)
    assert client.post(reverse("clinic:location_active", args=[loc.pk]), {"active": "0"}).status_code == 302
    loc.refresh_from_db()
    assert loc.active is False
    # Every write is in the write log, as the signed-in admin.
    assert writes("scheduling.Location").filter(actor=admin_user).count() == 2
    assert writes("scheduling.Room").filter(actor=admin_user).count() == 3


def test_duplicate_names_are_refused_with_everything_typed(login, admin_user):
    loc = LocationFactory(name="Main clinic")
    RoomFactory(location=loc, name="Room 1")
    room2 = RoomFactory(location=loc, name="Room 2")
    client = login(admin_user)
    resp = client.post(reverse("clinic:locations"), {"name": "Main clinic", "address": "77 Typed Ave"})
    assert resp.status_code == 400
    assert "There is already a location with that name." in body(resp) and "77 Typed Ave" in body(resp)
    resp = client.post(reverse("clinic:room_add", args=[loc.pk]), {"name": "Room 1"})
    assert resp.status_code == 400 and "This location already has a room of that name." in body(resp)
    resp = client.post(reverse("clinic:room", args=[loc.pk, room2.pk]), {"name": "Room 1"})
    assert resp.status_code == 400 and "This location already has a room of that name." in body(resp)
    assert Room.objects.filter(location=loc, name="Room 1").count() == 1
    room2.refresh_from_db()
    assert room2.name == "Room 2"


def test_a_location_with_working_hours_cannot_be_closed(login, admin_user, clinician):
    loc = LocationFactory(name="Main clinic")
    working_week(clinician, loc)
    resp = login(admin_user).post(
        reverse("clinic:location_active", args=[loc.pk]), {"active": "0"}, follow=True
    )
    assert "Main clinic still has working hours (Alice Able)" in body(resp)
    loc.refresh_from_db()
    assert loc.active is True


def test_booking_offers_only_rooms_in_use_and_types_offered(login, admin_user, front_desk, patient):
    loc = LocationFactory(name="Main clinic")
    kept, closed = RoomFactory(location=loc, name="Room 1"), RoomFactory(location=loc, name="Room 2")
    follow_up = AppointmentTypeFactory(name="Follow-up")
    video = AppointmentTypeFactory(name="Video visit")
    admin = login(admin_user)
    admin.post(reverse("clinic:room", args=[loc.pk, closed.pk]), {"active": "0"})
    admin.post(reverse("clinic:type_offered", args=[video.pk]), {"offered": "0"})
    page = body(login(front_desk).get(reverse("scheduling:appointment_book", args=[patient.pk])))
    assert str(follow_up.pk) in page and str(kept.pk) in page
    assert str(video.pk) not in page and str(closed.pk) not in page
    # Posted anyway (an old form): refused as a choice that is not offered.
    resp = login(front_desk).post(
        reverse("scheduling:appointment_book", args=[patient.pk]),
        {"appointment_type": str(video.pk), "start": "2031-01-06T09:00"},
    )
    assert resp.status_code in (200, 400) and "Select a valid choice" in body(resp)


# ------------------------------------------------------------------ appointment types
def type_data(**kw):
    return {
        "name": "Procedure",
        "duration_minutes": "60",
        "colour": "amber",
        "modality": "in_person",
        "encounter_type": "office",
        "offered": "on",
    } | kw


def test_appointment_type_added_edited_and_audited(login, admin_user):
    client = login(admin_user)
    assert client.post(reverse("clinic:type_new"), type_data()).status_code == 302
    t = AppointmentType.objects.get(name="Procedure")
    assert (t.duration_minutes, t.colour, t.offered) == (60, "amber", True)
    data = type_data(duration_minutes="45")
    data.pop("offered")  # unticked
    assert client.post(reverse("clinic:type_edit", args=[t.pk]), data).status_code == 302
    t.refresh_from_db()
    assert (t.duration_minutes, t.offered) == (45, False)
    assert writes("scheduling.AppointmentType").filter(actor=admin_user).count() == 2
    page = body(client.get(reverse("clinic:types")))
    assert "Not offered" in page and "Offer again" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            type_data(duration_minutes="3"),
            "An appointment lasts between 5 minutes and 8 hours (480 minutes).",
        ),
        (type_data(duration_minutes="ninety"), "Enter a whole number."),
        (type_data(name=""), "This field is required."),
        (type_data(name="Follow-up"), "There is already an appointment type with that name."),
        (type_data(encounter_type="inpatient"), "Select a valid choice."),
    ],
)
def test_bad_appointment_types_are_refused_and_keep_what_was_typed(login, admin_user, data, message):
    AppointmentTypeFactory(name="Follow-up")
    resp = login(admin_user).post(reverse("clinic:type_new"), data)
    assert resp.status_code == 400
    page = body(resp)
    assert message in page
    if data["name"]:
        assert f'value="{data["name"]}"' in page
    assert f'value="{data["duration_minutes"]}"' in page
    assert AppointmentType.objects.count() == 1


# ------------------------------------------------------------------ note templates
def test_note_template_added_per_visit_type_and_bad_input_kept(login, admin_user):
    client = login(admin_user)
    data = {"name": "", "encounter_type": "wellness", "subjective": "Typed carefully", "plan": "Plan:"}
    resp = client.post(reverse("clinic:template_new"), data)
    assert (
        resp.status_code == 400
        and "This field is required." in body(resp)
        and "Typed carefully" in body(resp)
    )
    assert not NoteTemplate.objects.exists()
    data |= {"name": "Annual physical", "active": "on"}
    assert client.post(reverse("clinic:template_new"), data).status_code == 302
    t = NoteTemplate.objects.get()
    assert (t.encounter_type, t.subjective, t.active) == ("wellness", "Typed carefully", True)
    assert writes("encounters.NoteTemplate").filter(actor=admin_user).count() == 1
    page = body(client.get(reverse("clinic:templates")))
    assert "Annual wellness" in page and "Annual physical" in page


# ------------------------------------------------------------------ units
def test_units_change_the_vitals_form_and_the_chart(login, admin_user, clinician, patient):
    from decimal import Decimal

    from encounters import findings, notes

    enc = notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Check-up")
    findings.vitals_record(
        actor=clinician,
        patient_id=patient.pk,
        encounter_id=enc.pk,
        values={"temperature": Decimal("98.6"), "weight": Decimal("170")},
        units={"temperature": "[degF]", "weight": "[lb_av]"},
    )
    doc = login(clinician)
    chart = body(doc.get(reverse("patients:detail", args=[patient.pk])))
    assert "98.6 \u00b0F" in chart
    admin = login(admin_user)
    resp = admin.post(reverse("clinic:units"), {"temperature": "Cel", "weight": "kg", "height": "cm"})
    assert resp.status_code == 302
    assert ClinicUnits.current().as_dict() == {"temperature": "Cel", "weight": "kg", "height": "cm"}
    assert writes("encounters.ClinicUnits").filter(actor=admin_user).count() == 1
    doc = login(clinician)
    chart = body(doc.get(reverse("patients:detail", args=[patient.pk])))
    assert "37 \u00b0C" in chart and "77.1 kg" in chart  # the cached page varies on the units
    form = body(doc.get(reverse("encounters:encounter_detail", args=[enc.pk])))
    assert "Temp (\u00b0C)" in form and "Weight (kg)" in form
    # A value that is not one of the choices: refused, nothing changed.
    resp = login(admin_user).post(
        reverse("clinic:units"), {"temperature": "K", "weight": "kg", "height": "cm"}
    )
    assert resp.status_code == 400 and "Select a valid choice" in body(resp)
    assert ClinicUnits.current().temperature == "Cel"


def test_overview_shows_the_clinic(login, admin_user):
    LocationFactory(name="Main clinic")
    AppointmentTypeFactory(name="Follow-up")
    page = body(login(admin_user).get(reverse("clinic:overview")))
    assert "1 location in use" in page and "1 of 1 appointment types offered" in page
    assert "Temperature in \u00b0F (Fahrenheit)" in page
