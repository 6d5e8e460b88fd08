"""Notes: drafts are audited, conflicts keep the editor's text, templates are chosen, amendments only on signed
notes (accept and deny paths, locked decision), and a malformed timeline cursor is not a 500."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent, Action, Outcome
from encounters import notes as enc_notes
from encounters.models import AmendmentStatus, Encounter, Note, NoteTemplate


@pytest.fixture
def encounter(clinician, patient):
    return enc_notes.encounter_start(actor=clinician, patient_id=patient.pk, reason="Check-up")


def _writes(patient, model="encounters.Note"):
    return AccessEvent.objects.filter(patient_id=patient.pk, channel="write", detail__model=model)


@pytest.mark.django_db
def test_every_draft_save_leaves_an_audit_event(clinician, patient, encounter):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    before = _writes(patient).count()
    n1 = enc_notes.note_save_draft(actor=clinician, note_id=note.pk, version=1, data={"subjective": "Cough"})
    n2 = enc_notes.note_save_draft(
        actor=clinician, note_id=note.pk, version=n1.version, data={"plan": "Rest"}
    )
    assert (n1.version, n2.version) == (2, 3)
    events = list(_writes(patient).order_by("id")[before:])
    assert len(events) == 2 and {e.action for e in events} == {Action.UPDATE}
    assert all("version" in e.detail["fields"] for e in events)
    # Saving exactly what is stored (an autosave that landed just before Save) is neither a write nor a conflict.
    same = enc_notes.note_save_draft(
        actor=clinician, note_id=note.pk, version=n1.version, data={"plan": "Rest"}
    )
    assert same.version == 3 and _writes(patient).count() == before + 2


@pytest.mark.django_db
def test_conflict_carries_the_stored_version(clinician, nurse, patient, encounter):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    enc_notes.note_save_draft(actor=nurse, note_id=note.pk, version=1, data={"subjective": "Nurse's triage"})
    with pytest.raises(enc_notes.NoteConflict) as exc:
        enc_notes.note_save_draft(actor=clinician, note_id=note.pk, version=1, data={"subjective": "Mine"})
    assert exc.value.current.subjective == "Nurse's triage" and exc.value.current.version == 2
    assert "still in the form" in " ".join(exc.value.messages)


@pytest.mark.django_db
def test_conflict_page_keeps_both_texts_and_keep_mine_saves(login, clinician, nurse, patient, encounter):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    enc_notes.note_save_draft(actor=nurse, note_id=note.pk, version=1, data={"subjective": "Nurse's triage"})
    client = login(clinician)
    p = str(note.pk)[:8] + "-"
    url = reverse("encounters:note_save", args=[note.pk])
    # htmx autosave: 409 with the message and the stored version; no new version handed out.
    resp = client.post(url, {p + "subjective": "My history", p + "version": 1}, HTTP_HX_REQUEST="true")
    body = resp.content.decode()
    assert resp.status_code == 409 and "Someone else saved" in body and "Nurse&#x27;s triage" in body
    assert "hx-swap-oob" not in body
    # The Save button: the page comes back (409) with the editor's text in the form and the stored one beside it.
    resp = client.post(url, {p + "subjective": "My history", p + "version": 1, "save": "1"})
    body = resp.content.decode()
    assert resp.status_code == 409
    assert (
        "My history</textarea>" in body
        and "Nurse&#x27;s triage" in body
        and 'data-testid="keep-mine"' in body
    )
    note.refresh_from_db()
    assert note.subjective == "Nurse's triage"
    # "Keep my text": an explicit choice, made with the stored version in view.
    resp = client.post(
        url, {p + "subjective": "My history", p + "version": 1, p + "base_version": 2, "save": "1"}
    )
    assert resp.status_code == 302
    note.refresh_from_db()
    assert note.subjective == "My history" and note.version == 3


@pytest.mark.django_db
def test_text_typed_into_a_note_signed_meanwhile_is_offered_as_an_addendum(
    login, clinician, patient, encounter
):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    n = enc_notes.note_save_draft(actor=clinician, note_id=note.pk, version=1, data={"subjective": "Cough"})
    enc_notes.note_sign(actor=clinician, note_id=note.pk, version=n.version)
    p = str(note.pk)[:8] + "-"
    resp = login(clinician).post(
        reverse("encounters:note_save", args=[note.pk]),
        {p + "subjective": "Cough", p + "plan": "Chest X-ray", p + "version": n.version, "save": "1"},
    )
    body = resp.content.decode()
    assert resp.status_code == 409 and "it can no longer be edited" in body
    assert 'data-testid="unsaved-text"' in body and "Plan: Chest X-ray</textarea>" in body


@pytest.mark.django_db
def test_clinician_chooses_the_note_template(login, clinician, patient, encounter):
    NoteTemplate.objects.create(name="Office A", encounter_type="office", subjective="A-subjective")
    b = NoteTemplate.objects.create(name="Office B", encounter_type="office", plan="B-plan")
    NoteTemplate.objects.create(name="Retired", encounter_type="office", subjective="old", active=False)
    client = login(clinician)
    page = client.get(reverse("encounters:encounter_detail", args=[encounter.pk])).content.decode()
    assert "Office A" in page and "Office B" in page and "Retired" not in page and "Blank note" in page
    client.post(reverse("encounters:note_create", args=[encounter.pk]), {"template": b.pk})
    client.post(reverse("encounters:note_create", args=[encounter.pk]), {"template": "blank"})
    notes = list(Note.objects.filter(encounter=encounter).order_by("created_at"))
    assert notes[0].plan == "B-plan" and notes[0].subjective == ""
    assert notes[1].plan == "" and notes[1].subjective == ""


@pytest.mark.django_db
def test_amendment_requests_only_on_signed_notes(clinician, patient, encounter):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    with pytest.raises(ValidationError, match="Only a signed note can be amended"):
        enc_notes.amendment_request_record(actor=clinician, note_id=note.pk, requested_text="Change it")
    assert not note.amendment_requests.exists()


@pytest.mark.django_db
def test_amendment_deny_path(login, clinician, colleague, patient, encounter):
    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    n = enc_notes.note_save_draft(
        actor=clinician, note_id=note.pk, version=1, data={"subjective": "Two days"}
    )
    enc_notes.note_sign(actor=clinician, note_id=note.pk, version=n.version)
    am = enc_notes.amendment_request_record(actor=clinician, note_id=note.pk, requested_text="It was 5 days")
    client = login(clinician)
    url = reverse("encounters:amendment_decide", args=[am.pk])
    # A denial needs its reason: refused, with the message, back on the encounter page.
    resp = client.post(url, {"decision": "deny", "decision_reason": ""}, follow=True)
    assert "A denial must give the reason." in resp.content.decode()
    am.refresh_from_db()
    assert am.status == AmendmentStatus.REQUESTED
    # An outsider: 404 and a denied event.
    with pytest.raises(Http404):
        enc_notes.amendment_decide(actor=colleague, amendment_id=am.pk, accept=False, reason="x")
    assert AccessEvent.objects.filter(actor=colleague, outcome=Outcome.DENIED, patient_id=patient.pk).exists()
    resp = client.post(url, {"decision": "deny", "decision_reason": "The record reflects what was said."})
    assert resp.status_code == 302
    am.refresh_from_db()
    assert am.status == AmendmentStatus.DENIED and am.addendum is None and am.decided_by == clinician
    assert am.decision_reason == "The record reflects what was said."
    page = client.get(reverse("encounters:encounter_detail", args=[encounter.pk])).content.decode()
    assert (
        "Amendment request (Denied): It was 5 days" in page and "The record reflects what was said." in page
    )
    with pytest.raises(ValidationError, match="already been decided"):
        enc_notes.amendment_decide(actor=clinician, amendment_id=am.pk, accept=True)
    assert not note.addenda.exists()


@pytest.mark.django_db
def test_amendment_decision_locks_the_row(clinician, patient, encounter, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    note = enc_notes.note_create(actor=clinician, encounter_id=encounter.pk, blank=True)
    n = enc_notes.note_save_draft(actor=clinician, note_id=note.pk, version=1, data={"subjective": "x"})
    enc_notes.note_sign(actor=clinician, note_id=note.pk, version=n.version)
    am = enc_notes.amendment_request_record(actor=clinician, note_id=note.pk, requested_text="y")
    with CaptureQueriesContext(connection) as ctx:
        enc_notes.amendment_decide(actor=clinician, amendment_id=am.pk, accept=True)
    assert any(
        "encounters_amendmentrequest" in q["sql"] and "FOR UPDATE" in q["sql"] for q in ctx.captured_queries
    )


@pytest.mark.django_db
def test_malformed_timeline_cursor_is_not_a_server_error(login, clinician, patient):
    now = timezone.now()
    Encounter.objects.bulk_create(
        [Encounter(patient=patient, provider=clinician, start=now - timedelta(days=i)) for i in range(30)]
    )
    client = login(clinician)
    url = reverse("encounters:timeline", args=[patient.pk])
    for bad in ("2024-01-01T00:00:00+00:00_zzz", "garbage", "_", "2024-13-45_" + "0" * 32):
        resp = client.get(url, {"after": bad})
        assert resp.status_code == 200, bad
        assert "That page link was not valid" in resp.content.decode()
    first = client.get(url)
    cursor = first.context["page"].next_cursor
    second = client.get(url, {"after": cursor})
    assert second.status_code == 200 and second.context["page"].rows[0].pk != first.context["page"].rows[0].pk
