"""Every scheduling URL answered as tests/scheduling/matrix.py says, per persona."""

from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

from . import matrix

PERSONAS = ["clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous"]


@pytest.mark.django_db
def test_matrix(request, login, patient, other_patient, clinician):
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    ctx = SimpleNamespace(patient=patient, other_patient=other_patient, clinician=clinician)
    matrix.setup(ctx)
    names = {e["name"] for e in matrix.ENTRIES}
    from scheduling.urls import urlpatterns

    assert names == {f"scheduling:{p.name}" for p in urlpatterns}
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
