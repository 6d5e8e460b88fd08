"""Audit completeness checked from outside: walk every URL pattern with a GET, as every persona, over a small
seeded clinic, and hold each response to "the patients it shows are exactly the patients its access events name".

tests/audit/test_completeness.py checks the matrix's own two patients one way (shown -> one event per category).
This walk extends it, from the outside:

- the clinic has more patients than the matrix's two: a third on the clinician's and nurse's team with an
  appointment today (so the calendar, the work lists and the search show several patients at once), and a fourth
  in the front desk's department only; every app's matrix setup adds its records (appointments, encounters,
  notes, prescriptions, inbox items ...), so every URL is walked with real ids;
- a patient is "shown" when the body carries their MRN or their name as screens write it (what the user typed,
  echoed back in a search box, does not count);
- both directions: no patient shown without a successful access event of the request naming them, and no event
  naming a patient the response does not show (a list page records the patients on the page, not more).

URL names come from every app's matrix (tests/*/matrix.py), so a new page is walked as soon as it has its entry.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent
from tests.audit.helpers import mark
from tests.conftest import verified_client
from tests.factories import make_patient
from tests.test_authorization_matrix import ALL_ENTRIES, MODULES, PERSONAS, _value

pytestmark = pytest.mark.django_db
GETS = [(app, i, e) for app, i, e in ALL_ENTRIES if e.get("method", "get") == "get"]


@pytest.fixture
def clinic(request, patient, other_patient, department, clinician, nurse):
    """The matrix's ctx, with every app's records and two more patients."""
    from patients.services import care_team_grant
    from scheduling.models import Appointment, AppointmentType

    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    ctx = SimpleNamespace(patient=patient, other_patient=other_patient, users=users, **users)
    for mod in MODULES.values():
        if hasattr(mod, "setup"):
            mod.setup(ctx)
    third = make_patient(given_name="Theodora", family_name="Thirdly", department=department)
    care_team_grant(patient=third, user=clinician, care_role="Primary care physician")
    care_team_grant(patient=third, user=nurse, care_role="Nurse")
    fourth = make_patient(given_name="Fergus", family_name="Fourthman", department=department)
    atype, _ = AppointmentType.objects.get_or_create(name="Walk visit", defaults={"duration_minutes": 15})
    start = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    for who in (third, fourth):
        Appointment.objects.create(
            patient=who,
            provider=clinician,
            appointment_type=atype,
            start=start,
            end=start + timedelta(minutes=15),
        )
        start += timedelta(minutes=30)
    ctx.patients = [patient, other_patient, third, fourth]
    return ctx


BINARY = ("application/zip", "application/pdf")


def _body(resp) -> str:
    content = b"".join(resp.streaming_content) if getattr(resp, "streaming", False) else resp.content
    # iCalendar folds lines longer than 75 octets and escapes commas (RFC 5545 3.1, 3.3.11): undo both.
    text = content.decode(errors="replace").replace("\r\n ", "").replace("\n ", "")
    return text.replace("\\,", ",") if "BEGIN:VCALENDAR" in text else text


def names(p) -> list[str]:
    """How screens, print-outs and feeds write the patient: the MRN and the name in its usual orders."""
    return [p.mrn, p.display_name, f"{p.family_name}, {p.given_name}", f"{p.given_name} {p.family_name}"]


def shown(body: str, patients, typed) -> set:
    for value in typed:  # what the user typed is echoed back (the search box), not shown as a record
        if value:
            body = body.replace(str(value), "")
    return {p.pk for p in patients if any(n in body for n in names(p))}


def about(clinic, url_kwargs) -> set:
    """A page about one record (a prescription's status fragment names the drug, not the patient) shows that
    record's patient: the patients of the clinic's records whose ids are in the URL."""
    owner = {str(p.pk): p.pk for p in clinic.patients}
    for obj in vars(clinic).values():
        if hasattr(obj, "pk") and getattr(obj, "patient_id", None):
            owner[str(obj.pk)] = obj.patient_id
    return {owner[str(v)] for v in url_kwargs.values() if str(v) in owner}


def named(events) -> set:
    out = set()
    for e in events:
        if e.patient_id:
            out.add(e.patient_id)
        out.update(e.patient_ids or [])
    return out


def _walk(clinic, entry) -> list[str]:
    url_kwargs = _value(entry.get("kwargs", {}), clinic)
    url = reverse(entry["name"], kwargs=url_kwargs)
    data = _value(entry.get("data", {}), clinic) or {}
    wrong = []
    for persona in PERSONAS:
        if persona == "anonymous":
            continue
        user = clinic.users[persona]
        with transaction.atomic():
            since = mark()
            resp = verified_client(Client(), user).get(url, data)
            body = _body(resp)
            events = list(AccessEvent.objects.filter(id__gt=since, actor=user, outcome="success"))
            transaction.set_rollback(True)
        if resp.status_code != 200:
            continue
        if resp.get("Content-Type", "").startswith(BINARY):
            continue  # a zip or a PDF: what it shows is checked where it is made (tests/fhir/test_export.py ...)
        on_page = shown(body, clinic.patients, data.values()) | about(clinic, url_kwargs)
        recorded = named(events)
        mrn = {p.pk: p.mrn for p in clinic.patients}
        missing = sorted(mrn[p] for p in on_page - recorded)
        extra = sorted(mrn.get(p, str(p)) for p in recorded - on_page if p in mrn)
        if missing:
            wrong.append(f"GET {url} as {persona}: shows {missing} with no access event naming them")
        if extra:
            wrong.append(f"GET {url} as {persona}: access events name {extra}, not shown in the response")
    return wrong


APPS = sorted({app for app, _i, _e in GETS})


@pytest.mark.parametrize("app", APPS)
def test_every_response_names_exactly_the_patients_it_shows(clinic, app):
    """Per app (one clinic for all its URLs); every failing URL and persona is listed."""
    wrong = [w for a, _i, entry in GETS if a == app for w in _walk(clinic, entry)]
    assert not wrong, "\n".join(wrong)
