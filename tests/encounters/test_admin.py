"""The practice admin runs the clinic's reference data in the Django admin (note templates, working hours, time
off, locations, rooms, appointment types), and the admin refuses bad rows with sentences, not SQL."""

import pytest

from encounters.models import NoteTemplate


@pytest.mark.django_db
def test_practice_admin_opens_the_reference_data(login, admin_user):
    client = login(admin_user)
    for model in (
        "encounters/notetemplate",
        "scheduling/workinghours",
        "scheduling/timeoff",
        "scheduling/location",
        "scheduling/appointmenttype",
    ):
        assert client.get(f"/admin/{model}/").status_code == 200, model
        assert client.get(f"/admin/{model}/add/").status_code == 200, model
    resp = client.post(
        "/admin/encounters/notetemplate/add/",
        {"name": "Diabetes review", "encounter_type": "office", "subjective": "Glucose log:", "active": "on"},
    )
    assert resp.status_code == 302 and NoteTemplate.objects.filter(name="Diabetes review").exists()
