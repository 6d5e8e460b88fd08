import pytest
from django.urls import reverse

from audit.models import AccessEvent

pytestmark = pytest.mark.django_db


def test_care_team_clinician_opens_chart_and_outsider_gets_404(login, patient, clinician, colleague):
    resp = login(clinician).get(reverse("patients:detail", args=[patient.pk]))
    assert resp.status_code == 200
    assert patient.mrn in resp.content.decode()
    cats = set(
        AccessEvent.objects.filter(patient_id=patient.pk, actor=clinician, outcome="success").values_list(
            "category", flat=True
        )
    )
    assert "chart summary" in cats

    resp = login(colleague).get(reverse("patients:detail", args=[patient.pk]))
    assert resp.status_code == 404
    assert AccessEvent.objects.filter(patient_id=patient.pk, actor=colleague, outcome="denied").count() == 1
