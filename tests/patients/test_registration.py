"""Registration: near-duplicates are flagged with a score and reasons; bad input gets a clear message, never a 500."""

import pytest
from django.urls import reverse

from patients.models import DuplicateOverride, Patient

pytestmark = pytest.mark.django_db

URL = reverse("patients:register")


def form_data(**kw):
    data = {"given_name": "Lena", "family_name": "Novak", "birth_date": "1988-05-17", "sex_at_birth": "F",
            "preferred_language": "en", "phone_mobile": "555-123-9876"}
    data.update(kw)
    return data


def test_register_happy_path(login, front_desk, department):
    resp = login(front_desk).post(URL, form_data())
    p = Patient.objects.get(family_name="Novak")
    assert resp.status_code == 302 and resp.url == p.get_absolute_url()
    assert p.department == department and len(p.mrn) == 8
    assert p.phones == [{"use": "mobile", "value": "555-123-9876"}]


def test_near_duplicate_is_flagged_then_registered_with_a_reason(login, front_desk, patient):
    client = login(front_desk)
    # Maria Garcia, 1970-03-02, F, 555-010-2000 exists; the new one has a typo in the name.
    data = form_data(given_name="Marie", family_name="Garcia", birth_date="1970-03-02", phone_mobile="555 010 2000")
    resp = client.post(URL, data)
    assert resp.status_code == 200
    cands = resp.context["candidates"]
    assert [c.patient.pk for c in cands] == [patient.pk]
    assert cands[0].score >= 45
    assert "same date of birth" in cands[0].reasons and "same phone" in cands[0].reasons
    body = resp.content.decode()
    assert 'data-testid="duplicate-candidates"' in body and patient.mrn in body
    assert Patient.objects.count() == 1

    resp = client.post(URL, {**data, "duplicate_reason": "Twin sister, checked ID"})
    assert resp.status_code == 302
    new = Patient.objects.get(given_name="Marie")
    override = DuplicateOverride.objects.get(patient=new)
    assert override.reason == "Twin sister, checked ID" and override.created_by == front_desk
    assert override.candidates[0]["patient"] == str(patient.pk)


def test_empty_duplicate_reason_does_not_register(login, front_desk, patient):
    data = form_data(given_name="Maria", family_name="Garcia", birth_date="1970-03-02", duplicate_reason="  ")
    resp = login(front_desk).post(URL, data)
    assert resp.status_code == 200 and resp.context["candidates"]
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("birth_date", "1970-13-45", "Enter the date of birth as YYYY-MM-DD."),
    ("birth_date", "yesterday", "Enter the date of birth as YYYY-MM-DD."),
    ("birth_date", "2999-01-01", "cannot be in the future"),
    ("given_name", "A" * 101, "at most 100 characters"),
    ("family_name", "<script>alert(1)</script>", "letters, spaces, hyphens"),
    ("given_name", "Robert{}", "letters, spaces, hyphens"),
    ("sex_at_birth", "X", "Select a valid choice"),
    ("race", "bogus", "Select a valid choice"),
    ("gender_identity", "hacker", "Select a valid choice"),
    ("phone_mobile", "call me maybe", "phone number"),
    ("ssn", "12-34", "123-45-6789"),
    ("email", "not-an-email", "valid email"),
    ("address_state", "Illinois", "at most 2 characters"),
    ("address_state", "I1", "two-letter"),
])
def test_bad_input_gets_a_clear_message_and_saves_nothing(login, front_desk, field, value, message):
    resp = login(front_desk).post(URL, form_data(**{field: value}))
    assert resp.status_code == 200
    assert message in resp.content.decode()
    assert not Patient.objects.exists()
    assert "<script>alert(1)</script>" not in resp.content.decode()  # echoed input is escaped


def test_tampered_edit_of_someone_elses_record_is_404(login, front_desk, other_patient):
    resp = login(front_desk).post(reverse("patients:edit", args=[other_patient.pk]),
                                  form_data(family_name="Hijacked"))
    assert resp.status_code == 404
    other_patient.refresh_from_db()
    assert other_patient.family_name == "Other"
    assert "Olaf" not in resp.content.decode() and other_patient.mrn not in resp.content.decode()


def test_malformed_uuid_is_404_not_500(login, front_desk):
    resp = login(front_desk).get("/patients/not-a-uuid/")
    assert resp.status_code == 404


def test_who_may_register(login, privacy, admin_user):
    assert login(privacy).get(URL).status_code == 403
    assert login(admin_user).post(URL, form_data()).status_code == 403
    assert not Patient.objects.exists()


def test_wrong_method(login, front_desk):
    assert login(front_desk).put(URL).status_code == 405
