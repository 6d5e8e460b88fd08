"""The calendar labels each appointment with the patient's name or "Busy" from one written-out statement
(encounters.selectors.calendar, patients.access.visible_condition). It must answer exactly as visible_patients,
the ORM form of the same rule, for every route to a patient: care-team grant (user, group), department, break
the glass (active, expired), a merged alias, no grant at all."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import roles
from audit.models import AccessEvent
from encounters import home as enc_home
from patients.access import visible_patients
from patients.models import BreakGlassGrant, Patient
from patients.services import care_team_grant
from scheduling import selectors as sched_selectors
from scheduling.models import Appointment, AppointmentStatus
from tests.factories import DepartmentFactory, make_patient


@pytest.fixture
def day_of_routes(db, department, clinician, colleague, nurse, front_desk, appt_type, tomorrow_9):
    """One appointment per route to a patient, all with the clinician, 20 minutes apart."""
    team = make_patient(given_name="Tara", family_name="Team", department=department)
    care_team_grant(patient=team, user=clinician, care_role="Primary care physician")
    on_call = Group.objects.create(name="On call")
    colleague.groups.add(on_call)
    grouped = make_patient(
        given_name="Gus", family_name="Group", department=DepartmentFactory(name="Surgery")
    )
    care_team_grant(patient=grouped, group=on_call, care_role="Cover")
    glass = make_patient(given_name="Gil", family_name="Glass", department=DepartmentFactory(name="ER"))
    BreakGlassGrant.objects.create(
        patient=glass, user=colleague, reason="unconscious", expires_at=timezone.now() + timedelta(hours=1)
    )
    expired = make_patient(given_name="Eve", family_name="Expired", department=DepartmentFactory(name="ICU"))
    old = BreakGlassGrant.objects.create(
        patient=expired, user=colleague, reason="last week", expires_at=timezone.now() + timedelta(hours=1)
    )
    BreakGlassGrant.objects.filter(pk=old.pk).update(
        granted_at=timezone.now() - timedelta(days=7), expires_at=timezone.now() - timedelta(days=6)
    )
    nobody = make_patient(given_name="Ned", family_name="Nobody", department=None)
    survivor = make_patient(given_name="Sam", family_name="Survivor", department=department)
    alias = make_patient(given_name="Al", family_name="Alias", department=department)
    care_team_grant(patient=alias, user=clinician, care_role="Primary care physician")
    Patient.objects.filter(pk=alias.pk).update(merged_into=survivor)
    for n, p in enumerate((team, grouped, glass, expired, nobody, alias)):
        Appointment.objects.create(
            patient=p,
            provider=clinician,
            appointment_type=appt_type,
            status=AppointmentStatus.SCHEDULED,
            start=tomorrow_9 + timedelta(minutes=20 * n),
            end=tomorrow_9 + timedelta(minutes=20 * n + 20),
        )
    return {
        "team": team,
        "grouped": grouped,
        "glass": glass,
        "expired": expired,
        "nobody": nobody,
        "alias": alias,
    }


@pytest.mark.django_db
def test_calendar_names_exactly_the_patients_visible_patients_allows(
    day_of_routes, clinician, colleague, nurse, front_desk, admin_user, tomorrow_9
):
    start, end = sched_selectors.day_bounds(tomorrow_9.date())
    booked = {str(p.pk): p for p in day_of_routes.values()}
    seen_by = {}
    for user in (clinician, colleague, nurse, front_desk, admin_user):
        user = type(user).objects.get(pk=user.pk)  # no cached roles or permissions
        if not sched_selectors.can_view_schedules(user):
            continue
        items = sched_selectors.calendar(actor=user, start=start, end=end)
        assert len(items) == len(booked)
        allowed = {str(pk) for pk in visible_patients(user, roles.VIEW_SCHEDULE).values_list("pk", flat=True)}
        shown = {i.appointment.patient_id for i in items if i.visible}
        assert shown == allowed & booked.keys(), user.username
        for i in items:
            p = booked[i.appointment.patient_id]
            assert i.label == (p.display_name if i.visible else "Busy")
        event = AccessEvent.objects.filter(actor=user).latest("occurred_at")
        assert sorted(str(p) for p in event.patient_ids) == sorted(shown)
        seen_by[user.username] = {booked[pk].family_name for pk in shown}
    # The routes themselves, so the agreement above is not two empty sets.
    assert seen_by["dr.alice"] == {"Team"}  # the merged alias's grant opens nothing
    assert seen_by["dr.bob"] == {"Group", "Glass"}  # the expired glass grant neither
    assert seen_by["desk.dan"] == {"Team"}  # department (Family Medicine); the alias is merged


@pytest.mark.django_db
def test_home_panels_are_work_lists_of_the_next_patients_the_viewer_may_see(
    login, front_desk, nurse, clinician, colleague, department, appt_type, tomorrow_9
):
    """A network's day is a thousand rows: the home page lists the first HOME_PANEL_ROWS the viewer may see (the
    front desk: still to come today; the nurse: arrived, not yet with the provider), says more follow, and its
    access event names exactly the patients listed."""
    from django.urls import reverse

    from tests.factories import UserFactory

    now = tomorrow_9  # "now" is 09:00 of a day with nothing else booked
    mine = [make_patient(given_name=f"Pat{i:02d}", department=department) for i in range(30)]
    stranger = make_patient(
        given_name="Zed", family_name="Stranger", department=DepartmentFactory(name="Other")
    )
    earlier = make_patient(given_name="Ida", family_name="Earlier", department=department)
    providers = [clinician, colleague] + [
        UserFactory(username=f"dr.{i}", roles=[roles.Role.CLINICIAN]) for i in range(2)
    ]
    rows = [
        Appointment(
            patient=stranger,
            provider=providers[0],
            appointment_type=appt_type,
            start=now,
            end=now + timedelta(minutes=3),
        )
    ]  # first, but "Busy" to the desk: not listed
    rows += [
        Appointment(
            patient=p,
            provider=providers[i % 4],
            appointment_type=appt_type,
            status=AppointmentStatus.ARRIVED if i < 3 else AppointmentStatus.SCHEDULED,
            start=now + timedelta(minutes=5 + i),
            end=now + timedelta(minutes=6 + i),
        )
        for i, p in enumerate(mine)
    ]
    rows.append(
        Appointment(
            patient=earlier,
            provider=providers[1],
            appointment_type=appt_type,  # over: not listed
            status=AppointmentStatus.SCHEDULED,
            start=now - timedelta(minutes=50),
            end=now - timedelta(minutes=40),
        )
    )
    Appointment.objects.bulk_create(rows)
    assert enc_home.HOME_PANEL_ROWS == 25

    desk = enc_home.home_panels(actor=type(front_desk).objects.get(pk=front_desk.pk), now=now)
    panel = next(p for p in desk if p["title"] == "Coming up today")
    assert [i.label for i in panel["rows"]] == [p.display_name for p in mine[:25]] and panel["more"]
    event = AccessEvent.objects.filter(actor=front_desk).latest("occurred_at")
    assert sorted(map(str, event.patient_ids)) == sorted(str(p.pk) for p in mine[:25])

    for p in mine + [earlier]:
        care_team_grant(patient=p, user=nurse, care_role="Nurse")
    arrivals = next(
        p
        for p in enc_home.home_panels(actor=type(nurse).objects.get(pk=nurse.pk), now=now)
        if p["title"] == "Arrivals"
    )
    assert [i.label for i in arrivals["rows"]] == [p.display_name for p in mine[:3]] and not arrivals["more"]

    # The page itself (today, whatever the hour): the panel and its note when rows were left out.
    body = login(front_desk).get(reverse("home")).content.decode()
    assert "Coming up today" in body and 'href="/schedule/"' in body
    from django.template.loader import render_to_string

    note = render_to_string("scheduling/_panel_day.html", {"rows": panel["rows"], "more": True})
    assert "The first 25 are shown." in note and "Pat00" in note
    assert "are shown" not in render_to_string(
        "scheduling/_panel_day.html", {"rows": arrivals["rows"], "more": False}
    )
