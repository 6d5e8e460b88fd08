"""Every encounters URL answered as tests/encounters/matrix.py says, per persona; plus write paths."""

from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

from encounters.models import Encounter, Note, VitalSigns

from . import matrix

PERSONAS = ["clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous"]


@pytest.mark.django_db
def test_matrix(request, login, patient, other_patient, clinician):
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    ctx = SimpleNamespace(patient=patient, other_patient=other_patient, clinician=clinician)
    matrix.setup(ctx)
    names = {e["name"] for e in matrix.ENTRIES}
    from encounters.urls import urlpatterns

    assert names == {f"encounters:{p.name}" for p in urlpatterns}
    failures = []
    for persona in PERSONAS:
        client = Client() if persona == "anonymous" else login(users[persona])
        for e in matrix.ENTRIES:
            url = reverse(e["name"], kwargs=e["kwargs"](ctx))
            got = getattr(client, e["method"])(url).status_code
            if got != e["expect"][persona]:
                failures.append((persona, e["name"], got, e["expect"][persona]))
        client.logout()
    assert not failures


@pytest.mark.django_db
def test_vitals_and_note_through_views(login, clinician, front_desk, patient):
    client = login(clinician)
    resp = client.post(reverse("encounters:encounter_start", args=[patient.pk]), {"encounter_type": "office"})
    enc = Encounter.objects.get(patient=patient)
    assert resp.status_code == 302
    bad = client.post(
        reverse("encounters:vitals_add", args=[enc.pk]), {"systolic": 900, "diastolic": 80}, follow=True
    )
    assert "not possible" in bad.content.decode() and not VitalSigns.objects.exists()
    client.post(reverse("encounters:vitals_add", args=[enc.pk]), {"systolic": 128, "diastolic": 82})
    assert VitalSigns.objects.count() == 1
    client.post(reverse("encounters:note_create", args=[enc.pk]))
    note = Note.objects.get(encounter=enc)
    p = str(note.pk)[:8] + "-"
    client.post(
        reverse("encounters:note_save", args=[note.pk]),
        {p + "subjective": "Cough", p + "version": 1, "sign": "1"},
    )
    note.refresh_from_db()
    assert note.signed
    # The front desk may not write clinical content: told so (403).
    desk = login(front_desk)
    assert desk.post(reverse("encounters:addendum_add", args=[note.pk]), {"text": "x"}).status_code == 403
