"""Every read of scheduling and encounter data.

Selectors that take `patient` expect a patient already fetched through patients.selectors.patient_get (which
checked the permission and recorded the access with the page's data category); they record nothing themselves.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, Value, When

from .models import Allergy, AllergyCriticality, AllergyStatus, MedicationStatement, MedicationStatus

# High criticality first on the banner and the chart (text order would put "low" before "high").
CRITICALITY_RANK = Case(When(criticality=AllergyCriticality.HIGH, then=Value(0)),
                        When(criticality=AllergyCriticality.UNABLE, then=Value(1)),
                        default=Value(2), output_field=IntegerField())


def allergies_active(*, patient) -> list[Allergy]:
    """Active allergies and intolerances, the most critical first."""
    return list(Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE)
                .order_by(CRITICALITY_RANK, "substance_text"))


def medications_active(*, patient) -> list[MedicationStatement]:
    """Current medications, prescribed here or reported by the patient."""
    return list(MedicationStatement.objects.filter(patient=patient, status=MedicationStatus.ACTIVE)
                .order_by("name"))


def home_panels(*, actor) -> list[dict]:
    return []
