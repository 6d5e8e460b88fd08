"""Issue 18 #6: the prescription status fragment shows patient data, so every response records an access event.
A background htmx poll may be folded (one event per session and patient per short window); a direct request never."""

from django.urls import reverse

from audit import categories
from audit.models import AccessEvent
from tests.audit.helpers import mark
from tests.prescriptions.conftest import signed_rx

POLL = {"HX-Request": "true", "X-Background-Poll": "1"}


def _events(patient, since):
    return AccessEvent.objects.filter(id__gt=since, patient_id=patient.pk, category=categories.PRESCRIPTION)


def test_direct_request_of_the_status_fragment_records_every_time(
    login, clinician, patient, catalog, pharmacies
):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    c = login(clinician)
    url = reverse("prescriptions:status", args=[rx.pk])
    since = mark()
    for _ in range(3):
        response = c.get(url)
        assert response.status_code == 200 and b"rx-status" in response.content
    events = _events(patient, since)
    assert events.count() == 3
    assert all(e.action == "view" and e.outcome == "success" for e in events)
    assert {e.actor_id for e in events} == {clinician.pk}


def test_background_polls_are_folded_but_recorded(login, clinician, patient, catalog, pharmacies):
    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    c = login(clinician)
    url = reverse("prescriptions:status", args=[rx.pk])
    since = mark()
    for _ in range(4):
        assert c.get(url, headers=POLL).status_code == 200
    assert _events(patient, since).count() == 1  # the window's first poll
    # A direct request in the same window is never folded.
    assert c.get(url).status_code == 200
    assert _events(patient, since).count() == 2
