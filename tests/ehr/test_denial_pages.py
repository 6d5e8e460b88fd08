"""A denial says so (issue 17, item 5): a user who may see the patient but lacks one permission gets a 403 page
that names the action in plain words, within the site's layout and with the patient banner, and the attempt is
recorded as denied; a user who may not see the patient at all still gets the 404 of a record that does not exist.
Both are the product's pages under DEBUG too."""

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import AccessEvent, Outcome
from core.exceptions import ActionDenied
from encounters.models import Encounter
from patients.denials import FALLBACK, action_words
from patients.selectors import patient_get
from tests.audit.helpers import mark

pytestmark = pytest.mark.django_db


@pytest.fixture
def encounter(patient, clinician):
    return Encounter.objects.create(patient=patient, provider=clinician, start=timezone.now())


def denied_since(since, user, patient):
    return list(
        AccessEvent.objects.filter(
            id__gt=since, actor=user, patient_id=patient.pk, outcome=Outcome.DENIED
        ).order_by("id")
    )


def assert_denial_page(resp, action: str, patient):
    assert resp.status_code == 403
    html = resp.content.decode()
    assert f"You do not have permission to {action}." in html
    assert 'class="topbar"' in html and 'aria-label="Main"' in html  # the site's layout: the user can go on
    assert 'data-testid="patient-banner"' in html and patient.mrn in html
    assert [t.name for t in resp.templates][0] == "errors/403.html"
    for leak in ("Traceback", "ActionDenied", "Http404", "action denied", roles.PRESCRIBE + "'"):
        assert leak not in html, leak


def test_a_nurse_opening_prescribe_is_told_she_may_not_prescribe(login, nurse, patient):
    since = mark()
    resp = login(nurse).get(reverse("prescriptions:new", kwargs={"patient_id": patient.pk}))
    assert_denial_page(resp, "prescribe", patient)
    [ev] = denied_since(since, nurse, patient)
    assert ev.category == categories.PRESCRIPTION and ev.detail["needed"] == roles.PRESCRIBE


def test_front_desk_opening_a_visit_note_is_told_so(login, front_desk, patient, encounter):
    since = mark()
    resp = login(front_desk).get(
        reverse("encounters:encounter_detail", kwargs={"encounter_id": encounter.pk})
    )
    assert_denial_page(resp, "open visits and their clinical notes", patient)
    assert len(denied_since(since, front_desk, patient)) == 1


def test_front_desk_writing_a_note_or_recording_vitals_is_told_so(login, front_desk, patient, encounter):
    client = login(front_desk)
    since = mark()
    resp = client.post(reverse("encounters:note_create", kwargs={"encounter_id": encounter.pk}), {})
    assert_denial_page(resp, "write clinical notes", patient)
    resp = client.post(
        reverse("encounters:vitals_add", kwargs={"encounter_id": encounter.pk}), {"pulse": "70"}
    )
    assert_denial_page(resp, "record vital signs", patient)
    assert [e.category for e in denied_since(since, front_desk, patient)] == [
        categories.CLINICAL_NOTE,
        categories.VITALS,
    ]
    assert not encounter.notes.exists()


def test_front_desk_opening_the_vitals_trend_is_told_so(login, front_desk, patient):
    resp = login(front_desk).get(reverse("encounters:vitals_trend", kwargs={"patient_id": patient.pk}))
    assert_denial_page(resp, "see vital signs", patient)


def test_a_user_who_may_not_see_the_patient_still_gets_404(login, colleague, nurse, patient, other_patient):
    since = mark()
    resp = login(colleague).get(reverse("prescriptions:new", kwargs={"patient_id": patient.pk}))
    assert resp.status_code == 404
    html = resp.content.decode()
    assert "permission to" not in html and patient.mrn not in html and patient.family_name not in html
    assert len(denied_since(since, colleague, patient)) == 1  # recorded all the same
    resp = login(nurse).get(reverse("prescriptions:new", kwargs={"patient_id": other_patient.pk}))
    assert resp.status_code == 404 and other_patient.mrn not in resp.content.decode()


def test_the_door_raises_action_denied_only_for_a_visible_patient(nurse, colleague, patient):
    with pytest.raises(ActionDenied) as denied:
        patient_get(
            actor=nurse, patient_id=patient.pk, perm=roles.PRESCRIBE, category=categories.PRESCRIPTION
        )
    assert denied.value.action == "prescribe" and denied.value.patient.pk == patient.pk
    from django.http import Http404

    with pytest.raises(Http404) as outsider:
        patient_get(
            actor=colleague, patient_id=patient.pk, perm=roles.PRESCRIBE, category=categories.PRESCRIPTION
        )
    assert not isinstance(outsider.value, ActionDenied)


def test_action_words_come_from_the_table():
    assert action_words(roles.PRESCRIBE, categories.PRESCRIPTION) == "prescribe"
    assert action_words(roles.CHANGE_CLINICAL, categories.VITALS) == "record vital signs"
    assert action_words(roles.CHANGE_CLINICAL, "something new") == "document in this patient's chart"
    assert action_words("no_such_permission", None) == FALLBACK


@override_settings(DEBUG=True)
def test_under_debug_the_door_answers_with_the_product_pages(login, nurse, colleague, patient):
    resp = login(nurse).get(reverse("prescriptions:new", kwargs={"patient_id": patient.pk}))
    assert_denial_page(resp, "prescribe", patient)
    resp = login(colleague).get(reverse("patients:detail", kwargs={"patient_id": patient.pk}))
    assert resp.status_code == 404
    html = resp.content.decode()
    assert "There is nothing here" in html
    assert "URLconf" not in html and "Page not found at" not in html and "Raised by" not in html
