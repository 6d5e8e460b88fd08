"""Merging duplicates moves everything linked to the duplicate; unmerging puts back exactly what moved."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import roles
from patients.access import patient_access_for
from patients.models import CareTeamMember, Patient, PatientMerge
from patients.services import care_team_grant, patient_merge, patient_unmerge
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def duplicate(department, colleague):
    dup = make_patient(given_name="Maria", family_name="Garcia", department=department, ssn=None)
    care_team_grant(patient=dup, user=colleague, care_role="Specialist")
    return dup


def team(p):
    return sorted(CareTeamMember.objects.filter(patient=p).values_list("pk", flat=True))


def test_merge_moves_care_team_and_unmerge_restores_exactly(
    front_desk, patient, duplicate, colleague, clinician
):
    survivor_team, dup_team = team(patient), team(duplicate)
    assert not patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)

    merge = patient_merge(
        actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID"
    )
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == patient.pk
    assert team(patient) == sorted(survivor_team + dup_team) and team(duplicate) == []
    assert merge.moved["patients.CareTeamMember.patient"] == [str(pk) for pk in dup_team]
    assert {k for k in merge.moved if not k.startswith("_")} == {"patients.CareTeamMember.patient"}
    # The duplicate's clinician now treats the survivor.
    assert patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)

    patient_unmerge(actor=front_desk, merge_id=merge.pk)
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id is None
    assert team(patient) == survivor_team and team(duplicate) == dup_team
    # ... and the access the merge gave is gone again; the duplicate's own access is back.
    assert not patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)
    assert patient_access_for(colleague, duplicate.pk).has(roles.VIEW_CLINICAL)
    assert patient_access_for(clinician, patient.pk).has(roles.VIEW_CLINICAL)
    assert PatientMerge.objects.get(pk=merge.pk).unmerged_by == front_desk


def test_unmerge_twice_is_refused(front_desk, patient, duplicate):
    merge = patient_merge(
        actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID"
    )
    patient_unmerge(actor=front_desk, merge_id=merge.pk)
    with pytest.raises(ValidationError):
        patient_unmerge(actor=front_desk, merge_id=merge.pk)


def test_merge_through_the_pages(login, front_desk, patient, duplicate):
    client = login(front_desk)
    assert client.get(reverse("patients:merge", args=[patient.pk])).status_code == 200
    resp = client.post(
        reverse("patients:merge", args=[patient.pk]),
        {"duplicate_mrn": duplicate.mrn, "reason": "Same person"},
    )
    assert resp.status_code == 302
    merge = PatientMerge.objects.get()
    resp = client.post(reverse("patients:unmerge", args=[patient.pk, merge.pk]))
    assert resp.status_code == 302
    assert Patient.objects.get(pk=duplicate.pk).merged_into_id is None


@pytest.mark.parametrize(
    ("mrn", "reason", "message"),
    [
        ("1234", "x", "An MRN is 8 to 12 digits."),
        ("00000000", "Same person", "No patient you can see has that MRN."),
    ],
)
def test_merge_bad_input(login, front_desk, patient, mrn, reason, message):
    resp = login(front_desk).post(
        reverse("patients:merge", args=[patient.pk]), {"duplicate_mrn": mrn, "reason": reason}
    )
    assert resp.status_code == 200 and message in resp.content.decode()
    assert not PatientMerge.objects.exists()


def test_merge_into_itself_is_refused(login, front_desk, patient):
    resp = login(front_desk).post(
        reverse("patients:merge", args=[patient.pk]), {"duplicate_mrn": patient.mrn, "reason": "oops"}
    )
    assert resp.status_code == 200 and "two different records" in resp.content.decode()


def test_cannot_merge_a_record_one_cannot_see(login, front_desk, patient, other_patient):
    resp = login(front_desk).post(
        reverse("patients:merge", args=[patient.pk]),
        {"duplicate_mrn": other_patient.mrn, "reason": "Same person"},
    )
    assert resp.status_code == 200 and "No patient you can see" in resp.content.decode()
    other_patient.refresh_from_db()
    assert other_patient.merged_into_id is None


def test_who_may_merge(login, clinician, patient, duplicate):
    from audit.models import AccessEvent

    # Clinicians have no merge_patient permission (front desk owns identity); the refusal is recorded.
    assert login(clinician).get(reverse("patients:merge", args=[patient.pk])).status_code == 403
    ev = AccessEvent.objects.get(actor=clinician, outcome="denied")
    assert ev.detail["needed"] == "patients.merge_patient"


# ------------------------------------------------------------------ every app's rows, hidden relations included
def _rows_for(p, *, clinician, day: int):
    """Rows of several apps linked to patient `p`, several through related_name="+" relations (hidden from
    Patient._meta.related_objects): encounters, notes, addenda, vitals, appointments, reminders, prescriptions,
    pharmacy inbox items, FHIR launch contexts."""
    import datetime

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    from encounters import models as enc
    from fhirapi.models import PatientLaunchContext
    from prescriptions import models as rx
    from scheduling import models as sched
    from tests.scheduling.factories import AppointmentTypeFactory

    now = timezone.now()
    encounter = enc.Encounter.objects.create(patient=p, provider=clinician, start=now, reason="Cough")
    note = enc.Note.objects.create(
        encounter=encounter, patient=p, author=clinician, subjective="Cough 3 days"
    )
    addendum = enc.Addendum.objects.create(
        note=note, patient=p, author=clinician, text="Also fever", content_hash="0" * 64
    )
    vitals = enc.VitalSigns.objects.create(patient=p, encounter=encounter, taken_at=now, heart_rate=70)
    appt = sched.Appointment.objects.create(
        patient=p,
        provider=clinician,
        appointment_type=AppointmentTypeFactory(),
        start=now + datetime.timedelta(days=day),
        end=now + datetime.timedelta(days=day, minutes=20),
    )
    reminder = sched.Reminder.objects.create(
        appointment=appt, patient=p, channel="email", due_at=now + datetime.timedelta(hours=1)
    )
    med, _ = rx.Medication.objects.get_or_create(
        rxcui="197806", defaults={"name": "Ibuprofen 600 MG Oral Tablet"}
    )
    pharmacy, _ = rx.Pharmacy.objects.get_or_create(ncpdp_id="1234567", defaults={"name": "Corner Pharmacy"})
    prescription = rx.Prescription.objects.create(
        patient=p,
        prescriber=clinician,
        medication=med,
        dose=1,
        dose_unit="tablet",
        frequency="QD",
        sig_text="1 tablet daily",
        quantity=30,
        quantity_unit="C48542",
        prescriber_order_number=f"PON-{p.mrn}",
    )
    inbox = rx.InboxItem.objects.create(
        kind="renewal",
        message_id=f"MSG-{p.mrn}",
        pharmacy=pharmacy,
        prescriber=clinician,
        patient=p,
        prescription=prescription,
        payload=b"<Message/>",
        summary="Renewal request",
    )
    token = AccessToken.objects.create(
        user=clinician,
        token=f"tok-{p.mrn}",
        expires=now + datetime.timedelta(hours=1),
        scope="patient/*.read",
    )
    launch = PatientLaunchContext.objects.create(token=token, patient=p)
    return [encounter, note, addendum, vitals, appt, reminder, prescription, inbox, launch]


def _patient_of(row):
    return type(row)._base_manager.filter(pk=row.pk).values_list("patient_id", flat=True).get()


def test_every_linked_row_of_every_app_moves_and_comes_back(front_desk, clinician, patient, duplicate):
    from patients.services import patient_links

    labels = {f"{m._meta.label}.{f.name}" for m, f in patient_links()}
    # Relations declared with related_name="+" are found too (Patient._meta.related_objects misses them).
    assert {
        "encounters.Addendum.patient",
        "scheduling.Reminder.patient",
        "prescriptions.InboxItem.patient",
        "fhirapi.PatientLaunchContext.patient",
    } <= labels
    assert "patients.BreakGlassGrant.patient" not in labels

    dup_rows = _rows_for(duplicate, clinician=clinician, day=1)
    own_rows = _rows_for(patient, clinician=clinician, day=2)
    merge = patient_merge(
        actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID"
    )
    assert all(_patient_of(r) == patient.pk for r in dup_rows + own_rows)
    for r in dup_rows:
        assert str(r.pk) in merge.moved[f"{r._meta.label}.patient"]

    patient_unmerge(actor=front_desk, merge_id=merge.pk)
    assert all(_patient_of(r) == duplicate.pk for r in dup_rows)  # exactly what moved goes back
    assert all(_patient_of(r) == patient.pk for r in own_rows)  # and nothing else


def test_emergency_access_stays_with_the_alias_and_alias_members_lose_access(
    front_desk, clinician, patient, duplicate, colleague
):
    import datetime

    from django.utils import timezone

    from patients.models import BreakGlassGrant, PatientUserObjectPermission
    from tests.factories import UserFactory

    # An outsider's emergency access to the duplicate, still running.
    medic = UserFactory(username="dr.er", roles=[roles.Role.CLINICIAN])
    now = timezone.now()
    grant = BreakGlassGrant.objects.create(
        patient=duplicate,
        user=medic,
        reason="Collapsed at reception",
        granted_at=now,
        expires_at=now + datetime.timedelta(hours=4),
    )
    # dr.alice treats both: her membership of the duplicate's team cannot move (the survivor has her already).
    care_team_grant(patient=duplicate, user=clinician, care_role="PCP")
    assert patient_access_for(medic, duplicate.pk).has(roles.VIEW_CLINICAL)
    before = sorted(
        PatientUserObjectPermission.objects.filter(content_object=duplicate).values_list(
            "user_id", "permission_id"
        )
    )

    merge = patient_merge(
        actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID"
    )
    grant.refresh_from_db()
    assert grant.patient_id == duplicate.pk  # not moved: it was granted for the other record
    assert not patient_access_for(medic, patient.pk).has(roles.VIEW_DEMOGRAPHICS)
    left = CareTeamMember.objects.get(patient=duplicate, user=clinician)  # stayed on the alias...
    assert not PatientUserObjectPermission.objects.filter(content_object=duplicate).exists()
    access = patient_access_for(clinician, duplicate.pk)
    assert not access.has(roles.VIEW_CLINICAL)  # ... without access to it
    assert patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)  # moved with access
    assert not patient_access_for(colleague, duplicate.pk).has(roles.VIEW_CLINICAL)

    patient_unmerge(actor=front_desk, merge_id=merge.pk)
    after = sorted(
        PatientUserObjectPermission.objects.filter(content_object=duplicate).values_list(
            "user_id", "permission_id"
        )
    )
    assert after == before  # the alias's permissions, exactly as they were
    assert CareTeamMember.objects.filter(pk=left.pk, patient=duplicate).exists()
    assert patient_access_for(clinician, duplicate.pk).has(roles.VIEW_CLINICAL)
    assert not patient_access_for(colleague, patient.pk).has(roles.VIEW_CLINICAL)


def test_a_merged_alias_cannot_be_opened_by_break_the_glass(front_desk, patient, duplicate, colleague):
    from patients.services import BreakGlassRefused, break_glass_request

    patient_merge(actor=front_desk, survivor_id=patient.pk, duplicate_id=duplicate.pk, reason="Same ID")
    with pytest.raises(BreakGlassRefused):
        break_glass_request(
            actor=colleague,
            mrn=duplicate.mrn,
            birth_date=duplicate.birth_date,
            reason="Emergency in the waiting room",
        )
