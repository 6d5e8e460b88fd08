"""Bearer tokens made directly with django-oauth-toolkit's models (the authorization flow is the toolkit's)."""

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from fhirapi.models import PatientLaunchContext


@pytest.fixture
def make_token(db):
    """make_token(user, scope, patient=None, grant=authorization-code, expires_in=3600) -> raw token string.

    With user=None the token is a client-credentials token of an application owned by `app_user`.
    """
    Application = get_application_model()

    def _make(user, scope, *, patient=None, app_user=None, expires_in=3600):
        grant = Application.GRANT_CLIENT_CREDENTIALS if user is None else Application.GRANT_AUTHORIZATION_CODE
        app = Application.objects.create(
            name="test app",
            user=app_user or user,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=grant,
            redirect_uris="https://app.example.test/callback",
        )
        raw = secrets.token_urlsafe(30)
        token = get_access_token_model().objects.create(
            user=user,
            application=app,
            token=raw,
            scope=scope,
            expires=timezone.now() + timedelta(seconds=expires_in),
        )
        if patient is not None:
            PatientLaunchContext.objects.create(token=token, patient=patient)
        return raw

    return _make


@pytest.fixture
def api(client):
    """api(token, path, **params) -> response of GET /fhir/<path> with the bearer token."""

    def _get(token, path, **params):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.get(f"/fhir/{path}", params, headers=headers)

    return _get


@pytest.fixture
def chart(db, patient, other_patient, clinician):
    """Clinical data for `patient` (and one encounter for `other_patient`), written directly: these tests read."""
    from datetime import date, datetime
    from decimal import Decimal
    from types import SimpleNamespace

    from encounters.models import Allergy, Encounter, Icd10Code, MedicationStatement, Problem, VitalSigns
    from prescriptions.models import Medication, Prescription
    from scheduling.models import Appointment, AppointmentType

    tz = timezone.get_current_timezone()
    at = lambda *a: datetime(*a, tzinfo=tz)  # noqa: E731
    enc1 = Encounter.objects.create(
        patient=patient,
        provider=clinician,
        encounter_type="office",
        status="finished",
        reason="Cough",
        start=at(2024, 3, 1, 9),
        end=at(2024, 3, 1, 9, 30),
    )
    enc2 = Encounter.objects.create(
        patient=patient,
        provider=clinician,
        encounter_type="telehealth",
        status="finished",
        start=at(2025, 1, 10, 14),
        end=at(2025, 1, 10, 14, 20),
    )
    other_enc = Encounter.objects.create(patient=other_patient, provider=clinician, start=at(2025, 2, 1, 8))
    icd, _ = Icd10Code.objects.get_or_create(code="J45.909", defaults={"description": "Unspecified asthma"})
    problem = Problem.objects.create(
        patient=patient, code=icd, description="Asthma", onset_date=date(2010, 5, 1)
    )
    resolved = Problem.objects.create(
        patient=patient,
        code=icd,
        description="Asthma (childhood)",
        status="resolved",
        onset_date=date(2000, 1, 1),
        resolved_date=date(2005, 1, 1),
    )
    allergy = Allergy.objects.create(
        patient=patient,
        substance_text="Penicillin",
        substance_rxcui="7980",
        category="medication",
        criticality="high",
        severity="severe",
        reaction="Hives",
        onset_date=date(2001, 2, 3),
    )
    vitals = VitalSigns.objects.create(
        patient=patient,
        encounter=enc1,
        taken_at=at(2024, 3, 1, 9, 5),
        systolic=128,
        diastolic=82,
        heart_rate=71,
        weight=Decimal("80.2"),
        height=Decimal("180.0"),
        bmi=Decimal("24.8"),
        spo2=98,
        temperature=Decimal("36.8"),
        resp_rate=14,
    )
    vitals2 = VitalSigns.objects.create(patient=patient, taken_at=at(2025, 1, 10, 14, 5), heart_rate=80)
    med = Medication.objects.create(rxcui="197361", name="amlodipine 5 MG Oral Tablet")
    rx = Prescription.objects.create(
        patient=patient,
        prescriber=clinician,
        medication=med,
        dose=1,
        dose_unit="tablet",
        frequency="QD",
        sig_text="Take 1 tablet by mouth once daily",
        quantity=30,
        quantity_unit="C48542",
        days_supply=30,
        refills=2,
        status="sent",
        prescriber_order_number="TEST-RX-1",
        signed_at=at(2025, 1, 10, 14, 10),
    )
    statement = MedicationStatement.objects.create(
        patient=patient, name="Vitamin D", source="patient_reported", started_on=date(2023, 1, 1)
    )
    atype, _ = AppointmentType.objects.get_or_create(name="Follow-up", defaults={"duration_minutes": 20})
    appt = Appointment.objects.create(
        patient=patient,
        provider=clinician,
        appointment_type=atype,
        start=at(2026, 6, 1, 10),
        end=at(2026, 6, 1, 10, 20),
        reason="Check BP",
    )
    return SimpleNamespace(
        enc1=enc1,
        enc2=enc2,
        other_enc=other_enc,
        problem=problem,
        resolved=resolved,
        allergy=allergy,
        vitals=vitals,
        vitals2=vitals2,
        rx=rx,
        statement=statement,
        appt=appt,
    )
