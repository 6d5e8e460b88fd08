"""Every page that shows patient data records its access event; every write leaves an audit entry.

Other apps add their own pages and writes in their folders with the helpers in tests/audit/helpers.py.
"""

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit import categories
from patients.models import CareTeamMember, Patient, PatientMerge
from tests.audit.helpers import assert_denied_recorded, assert_read_recorded, audited_write
from tests.factories import make_patient

pytestmark = pytest.mark.django_db

# (url name, persona fixture, expected category). Category of the chart page depends on what the user may see.
READS = [
    ("patients:detail", "clinician", categories.CHART_SUMMARY),
    ("patients:detail", "front_desk", categories.DEMOGRAPHICS),
    ("patients:edit", "clinician", categories.DEMOGRAPHICS),
    ("patients:edit", "front_desk", categories.DEMOGRAPHICS),
    ("patients:merge", "front_desk", categories.DEMOGRAPHICS),
]


@pytest.mark.parametrize(("name", "persona", "category"), READS)
def test_patient_page_records_one_access_event(request, login, patient, name, persona, category):
    user = request.getfixturevalue(persona)
    assert_read_recorded(login(user), reverse(name, args=[patient.pk]), actor=user, patient_id=patient.pk,
                         category=category)


@pytest.mark.parametrize("name", ["patients:detail", "patients:edit", "patients:merge"])
def test_denied_attempts_are_recorded(login, colleague, front_desk, other_patient, name):
    user = front_desk if name == "patients:merge" else colleague
    assert_denied_recorded(login(user), reverse(name, args=[other_patient.pk]), actor=user,
                           patient_id=other_patient.pk)


def test_search_records_one_list_event_naming_the_patients_shown(login, clinician, patient, other_patient):
    ev = assert_read_recorded(login(clinician), reverse("patients:search") + "?q=garcia", actor=clinician,
                              patient_id=patient.pk, category=categories.PATIENT_LIST, action="list")
    assert ev.patient_ids == [patient.pk]  # the outsider's record is neither shown nor named


def _entries_for(obj) -> int:
    return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk)).count()


def test_register_is_audited(login, front_desk):
    data = {"given_name": "Zed", "family_name": "Zulu", "birth_date": "1991-01-02", "sex_at_birth": "M",
            "preferred_language": "en", "phone_mobile": "555 333 4444"}
    resp = login(front_desk).post(reverse("patients:register"), data)
    assert resp.status_code == 302
    p = Patient.objects.get(family_name="Zulu")
    assert _entries_for(p) == 1
    from audit.models import AccessEvent

    ev = AccessEvent.objects.get(patient_id=p.pk, action="create", actor=front_desk)
    assert ev.detail["model"] == "patients.Patient"
    assert "phones" in ev.detail["fields"]  # the field is named; its value is masked in the LogEntry


def test_update_demographics_is_audited(login, front_desk, patient):
    client = login(front_desk)
    form = client.get(reverse("patients:edit", args=[patient.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v not in (None, [])}
    data.update(given_name="Mariana", birth_date="1970-03-02")
    with audited_write(patient_id=patient.pk, actor=front_desk) as evs:
        resp = client.post(reverse("patients:edit", args=[patient.pk]), data)
        assert resp.status_code == 302
    assert any(e.action == "update" and "given_name" in e.detail.get("fields", []) for e in evs)


def test_care_team_add_and_remove_are_audited(login, clinician, colleague, patient):
    client = login(clinician)
    with audited_write(patient_id=patient.pk, actor=clinician, at_least=2) as added:
        client.post(reverse("patients:care_team_add", args=[patient.pk]),
                    {"username": colleague.username, "care_role": "Covering"})
    assert {e.category for e in added} >= {categories.CARE_TEAM}
    assert any(e.detail.get("model") == "patients.CareTeamMember" for e in added)  # the LogEntry, too
    member = CareTeamMember.objects.get(patient=patient, user=colleague)
    with audited_write(patient_id=patient.pk, actor=clinician, at_least=2) as removed:
        client.post(reverse("patients:care_team_remove", args=[patient.pk, member.pk]))
    assert any(e.action == "delete" for e in removed)
    assert any(e.detail.get("removed") for e in removed)


def test_merge_and_unmerge_are_audited_for_both_patients(login, front_desk, patient, department):
    dup = make_patient(given_name="Maria", family_name="Garcia", department=department, ssn=None)
    client = login(front_desk)
    with audited_write(patient_id=dup.pk, actor=front_desk) as on_dup, \
            audited_write(patient_id=patient.pk, actor=front_desk) as on_survivor:
        resp = client.post(reverse("patients:merge", args=[patient.pk]), {"duplicate_mrn": dup.mrn,
                                                                          "reason": "Same person, checked ID"})
        assert resp.status_code == 302
    assert any(e.action == "merge" for e in on_dup) and any(e.action == "merge" for e in on_survivor)
    merge = PatientMerge.objects.get(survivor=patient, merged=dup)
    with audited_write(patient_id=dup.pk, actor=front_desk) as undone:
        client.post(reverse("patients:unmerge", args=[patient.pk, merge.pk]))
    assert any("unmerge" in e.detail for e in undone)
