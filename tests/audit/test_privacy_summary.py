"""Privacy reports that answer a complaint (issue 17, item 6): "who opened this chart" finds the patient by name and
date of birth as well as MRN, leads with a summary (each person, role, first and last access, what they opened,
emergency access marked), expands to the raw events, names background jobs as the system, and runs a constant
number of queries however many events and people there are."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import categories
from audit.labels import system_label
from audit.models import AccessEvent, Action
from audit.services import access_record
from patients.models import BreakGlassGrant
from patients.services import break_glass_request
from tests.factories import UserFactory, make_patient

pytestmark = pytest.mark.django_db

URL = "audit:patient_report"


@pytest.fixture
def history(clinician, nurse, colleague, patient, other_patient):
    access_record(actor=clinician, action="view", category=categories.CHART_SUMMARY, patient_id=patient.pk)
    access_record(actor=clinician, action="view", category=categories.CLINICAL_NOTE, patient_id=patient.pk)
    access_record(actor=nurse, action="view", category=categories.VITALS, patient_id=patient.pk)
    access_record(
        actor=nurse,
        action="list",
        category=categories.PATIENT_LIST,
        patient_ids=[other_patient.pk, patient.pk],
    )
    access_record(
        actor=clinician, action="view", category=categories.CHART_SUMMARY, patient_id=other_patient.pk
    )
    break_glass_request(
        actor=colleague,
        mrn=patient.mrn,
        birth_date=patient.birth_date,
        reason="Unconscious in the waiting room",
    )
    access_record(
        actor=colleague, action="view", category=categories.ALLERGIES, patient_id=patient.pk, break_glass=True
    )


def people(resp):
    return {p.who: p for p in resp.context["summary"].people}


def test_found_by_name_and_date_of_birth(login, privacy, patient, history):
    resp = login(privacy).get(
        reverse(URL), {"name": "maria garcía", "birth_date": patient.birth_date.isoformat()}
    )
    assert resp.status_code == 200
    assert resp.context["summary"] and f"MRN {patient.mrn}" in resp.context["subject"]
    found = AccessEvent.objects.get(actor=privacy, action=Action.LIST, category=categories.AUDIT_REPORT)
    assert found.patient_ids == [patient.pk] and found.detail["by"] == "name and date of birth"
    shown = AccessEvent.objects.get(actor=privacy, action=Action.VIEW, category=categories.AUDIT_REPORT)
    assert shown.patient_id == patient.pk and shown.detail["report"] == "patient summary"


def test_several_matches_are_offered_to_choose_from(login, privacy, patient):
    twin = make_patient(department=patient.department)  # the factory's Maria Garcia, same date of birth
    resp = login(privacy).get(reverse(URL), {"name": "Garcia", "birth_date": patient.birth_date.isoformat()})
    assert "summary" not in resp.context
    assert {c["mrn"] for c in resp.context["candidates"]} == {patient.mrn, twin.mrn}
    body = resp.content.decode()
    assert f"mrn={patient.mrn}" in body and f"mrn={twin.mrn}" in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "Nobody Atall", "birth_date": "1970-03-02"}, "No patient has that name and date of birth"),
        ({"name": "Garcia"}, "Enter the date of birth as well as the name."),
        ({"birth_date": "1970-03-02"}, "Enter the name as well as the date of birth."),
        ({"name": "Garcia", "birth_date": "1970-02-31"}, "Enter the date of birth as YYYY-MM-DD."),
        ({"start": "2026-01-01"}, "Enter the patient&#x27;s MRN, or their name and date of birth."),
    ],
)
def test_lookup_input_is_checked(login, privacy, patient, data, message):
    resp = login(privacy).get(reverse(URL), data)
    assert resp.status_code == 200 and "summary" not in resp.context
    assert message in resp.content.decode()


def test_summary_one_line_per_person(login, privacy, patient, history, clinician, nurse, colleague):
    resp = login(privacy).get(reverse(URL), {"mrn": patient.mrn})
    lines = people(resp)
    alice, nina, bob = lines["Alice Able"], lines["Nina Nurse"], lines["Bob Baker"]
    assert alice.role == "Clinician (prescriber)" and nina.role == "Nurse"
    assert alice.opened == sorted([categories.CHART_SUMMARY, categories.CLINICAL_NOTE])  # not other_patient's
    assert alice.events == 2 and alice.first <= alice.last and not alice.break_glass
    assert set(nina.opened) == {categories.VITALS, categories.PATIENT_LIST}
    assert bob.break_glass and not alice.break_glass and not nina.break_glass
    body = resp.content.decode()
    assert body.index("Bob Baker") < body.index("Alice Able")  # most recent first
    assert body.count('data-testid="btg-mark"') == 1
    # each line expands to its latest events and links to all of them
    assert [r.event.category for r in bob.recent][:1] == [categories.ALLERGIES]
    assert f"who=u{colleague.pk}" in body


def test_expanding_to_one_persons_raw_events(login, privacy, patient, history, colleague):
    client = login(privacy)
    resp = client.get(reverse(URL), {"mrn": patient.mrn, "view": "events", "who": f"u{colleague.pk}"})
    rows = resp.context["report"].rows
    assert rows and {r.event.actor_id for r in rows} == {colleague.pk}
    assert {r.event.category for r in rows} >= {categories.ALLERGIES, categories.CHART_SUMMARY}
    every = client.get(reverse(URL), {"mrn": patient.mrn, "view": "events"})
    assert len(every.context["report"].rows) > len(rows)
    bad = client.get(reverse(URL), {"mrn": patient.mrn, "view": "events", "who": "1 OR 1=1"})
    assert bad.status_code == 200 and "report" not in bad.context


def test_background_jobs_are_the_system_not_a_user(login, privacy, patient, colleague):
    from patients.tasks import break_glass_notify

    grant = break_glass_request(
        actor=colleague, mrn=patient.mrn, birth_date=patient.birth_date, reason="Found collapsed at the desk"
    )
    assert break_glass_notify(str(grant.pk))  # the task itself (what the worker runs): it saves the grant
    ev = AccessEvent.objects.filter(actor=None, patient_id=patient.pk, channel="write").latest("id")
    assert ev.detail["task"] == "patients.tasks.break_glass_notify"
    client = login(privacy)
    lines = people(client.get(reverse(URL), {"mrn": patient.mrn}))
    job = lines["System (background task: emergency-access notice to the privacy officer)"]
    assert job.system and job.role == "" and job.username == ""
    assert "system" not in lines
    raw = client.get(reverse(URL), {"mrn": patient.mrn, "view": "events", "who": "system"})
    shown = raw.content.decode()
    assert "System (background task: emergency-access notice to the privacy officer)" in shown
    assert "patients.tasks" not in shown
    assert BreakGlassGrant.objects.get(pk=grant.pk).notified_at is not None


def test_system_labels():
    assert (
        system_label(channel="task", task="x.tasks.reminders_send")
        == "System (background task: appointment reminders)"
    )
    assert system_label(channel="task", task="x.tasks.new_job") == "System (background task: new job)"
    assert system_label(channel="ncpdp", task=None) == "System (message from a pharmacy)"
    assert system_label(channel="task", task=None) == "System (background task)"
    assert system_label(channel="write", task=None) == "System (change made without a signed-in user)"
    assert system_label(channel="", task=None) == "System"


def _add_history(patient, n_people: int, per_person: int):
    for i in range(n_people):
        u = UserFactory(username=f"staff{patient.mrn[-3:]}{i}-{per_person}", roles=["nurse"])
        for j in range(per_person):
            access_record(
                actor=u,
                action="view",
                category=categories.VITALS if j % 2 else categories.CHART_SUMMARY,
                patient_id=patient.pk,
                break_glass=j == 3,
            )
    for _ in range(per_person):
        access_record(
            actor=None, action="update", category=categories.SCHEDULE, patient_id=patient.pk, channel="task"
        )


def test_summary_query_count_is_constant_as_events_and_people_grow(login, privacy, patient):
    client = login(privacy)
    _add_history(patient, 2, 2)
    client.get(reverse(URL), {"mrn": patient.mrn})  # warm (content types, session)
    with CaptureQueriesContext(connection) as small:
        resp = client.get(reverse(URL), {"mrn": patient.mrn})
    assert len(resp.context["summary"].people) >= 3
    _add_history(patient, 12, 15)
    with CaptureQueriesContext(connection) as large:
        resp = client.get(reverse(URL), {"mrn": patient.mrn})
    assert len(resp.context["summary"].people) >= 15 and resp.context["summary"].events >= 12 * 15
    assert len(large) == len(small), [q["sql"][:120] for q in large.captured_queries]
    assert len(large) <= 14


def test_summary_honours_the_date_range(login, privacy, patient, clinician):
    old = AccessEvent(
        occurred_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=90),
        actor=clinician,
        actor_username=clinician.username,
        patient_id=patient.pk,
        action="view",
        category="old view",
    )
    old.save(force_insert=True)
    client = login(privacy)
    recent = people(client.get(reverse(URL), {"mrn": patient.mrn}))
    assert "Alice Able" not in recent
    start = (datetime.date.today() - datetime.timedelta(days=100)).isoformat()
    end = (datetime.date.today() - datetime.timedelta(days=80)).isoformat()
    then = people(client.get(reverse(URL), {"mrn": patient.mrn, "start": start, "end": end}))
    assert then["Alice Able"].opened == ["old view"]
