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
from encounters import selectors
from encounters.models import Appointment, AppointmentStatus
from patients.access import visible_patients
from patients.models import BreakGlassGrant, Patient
from patients.services import care_team_grant
from tests.factories import DepartmentFactory, make_patient


@pytest.fixture
def day_of_routes(db, department, clinician, colleague, nurse, front_desk, appt_type, tomorrow_9):
    """One appointment per route to a patient, all with the clinician, 20 minutes apart."""
    team = make_patient(given_name="Tara", family_name="Team", department=department)
    care_team_grant(patient=team, user=clinician, care_role="Primary care physician")
    on_call = Group.objects.create(name="On call")
    colleague.groups.add(on_call)
    grouped = make_patient(given_name="Gus", family_name="Group", department=DepartmentFactory(name="Surgery"))
    care_team_grant(patient=grouped, group=on_call, care_role="Cover")
    glass = make_patient(given_name="Gil", family_name="Glass", department=DepartmentFactory(name="ER"))
    BreakGlassGrant.objects.create(patient=glass, user=colleague, reason="unconscious",
                                   expires_at=timezone.now() + timedelta(hours=1))
    expired = make_patient(given_name="Eve", family_name="Expired", department=DepartmentFactory(name="ICU"))
    old = BreakGlassGrant.objects.create(patient=expired, user=colleague, reason="last week",
                                         expires_at=timezone.now() + timedelta(hours=1))
    BreakGlassGrant.objects.filter(pk=old.pk).update(granted_at=timezone.now() - timedelta(days=7),
                                                      expires_at=timezone.now() - timedelta(days=6))
    nobody = make_patient(given_name="Ned", family_name="Nobody", department=None)
    survivor = make_patient(given_name="Sam", family_name="Survivor", department=department)
    alias = make_patient(given_name="Al", family_name="Alias", department=department)
    care_team_grant(patient=alias, user=clinician, care_role="Primary care physician")
    Patient.objects.filter(pk=alias.pk).update(merged_into=survivor)
    for n, p in enumerate((team, grouped, glass, expired, nobody, alias)):
        Appointment.objects.create(
            patient=p, provider=clinician, appointment_type=appt_type, status=AppointmentStatus.SCHEDULED,
            start=tomorrow_9 + timedelta(minutes=20 * n), end=tomorrow_9 + timedelta(minutes=20 * n + 20),
        )
    return {"team": team, "grouped": grouped, "glass": glass, "expired": expired, "nobody": nobody, "alias": alias}


@pytest.mark.django_db
def test_calendar_names_exactly_the_patients_visible_patients_allows(
    day_of_routes, clinician, colleague, nurse, front_desk, admin_user, tomorrow_9
):
    start, end = selectors.day_bounds(tomorrow_9.date())
    booked = {str(p.pk): p for p in day_of_routes.values()}
    seen_by = {}
    for user in (clinician, colleague, nurse, front_desk, admin_user):
        user = type(user).objects.get(pk=user.pk)  # no cached roles or permissions
        if not selectors.can_view_schedules(user):
            continue
        items = selectors.calendar(actor=user, start=start, end=end)
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
