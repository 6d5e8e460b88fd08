"""The door knows more than staff (issue 16, item 4): a patient acting for themselves, a proxy acting for another
patient within a scope and until an expiry, a system client acting as itself. What each may reach through every
form of the door (patient_get, visible_patients, visible_condition), and what the audit records: which kind acted,
and for whom."""

import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.http import Http404
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from accounts import roles
from accounts.roles import Role
from audit.models import AccessEvent
from audit.services import audit_link_chain, audit_verify, event_canonical
from core import actors
from patients.access import visible_condition, visible_patients
from patients.actors import (
    ACTING_FOR,
    actor_for_user,
    actor_from_request,
    actor_from_token,
    represented_choices,
)
from patients.models import ClientBinding, PatientAccount, ProxyGrant
from patients.selectors import patient_get
from patients.services import care_team_grant
from tests.factories import UserFactory, make_patient

READ = [roles.VIEW_DEMOGRAPHICS, roles.VIEW_SCHEDULE]


@pytest.fixture
def family(db):
    """Paula is a patient with an account; her son Sam is a patient too; Paula may act for Sam."""
    paula = make_patient(given_name="Paula", family_name="Parent", birth_date="1980-01-01")
    sam = make_patient(given_name="Sam", family_name="Parent", birth_date="2015-06-01")
    user = UserFactory(username="paula.parent", roles=[])
    PatientAccount.objects.create(user=user, patient=paula)
    return {"paula": paula, "sam": sam, "user": user}


def _proxy(family, *, scope=READ, starts=-60, expires=3600, revoked=False):
    now = timezone.now()
    return ProxyGrant.objects.create(
        user=family["user"],
        patient=family["sam"],
        relationship=ProxyGrant.Relationship.PARENT,
        scope=scope,
        starts_at=now + timedelta(seconds=starts),
        expires_at=now + timedelta(seconds=expires),
        revoked_at=now if revoked else None,
    )


def _reaches(actor, patient, perm) -> bool:
    """Every form of the door gives the same answer; patient_get's (it records an event) is returned."""
    listed = visible_patients(actor, perm).filter(pk=patient.pk).exists()
    cond, params = visible_condition(
        actor, perm, patient="pt.id", department="pt.department_id", merged="pt.merged_into_id"
    )
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM patients_patient pt WHERE pt.id = %(pid)s AND {cond})",
            {**params, "pid": str(patient.pk)},
        )  # noqa: E501, S608
        in_sql = cur.fetchone()[0]
    try:
        patient_get(actor=actor, patient_id=patient.pk, perm=perm, category="test")
        got = True
    except Http404:
        got = False
    assert listed == in_sql == got, (listed, in_sql, got)
    return got


def _last_event():
    return AccessEvent.objects.order_by("-id").first()


def test_a_patient_reaches_their_own_record_and_nothing_else(family, patient):
    actor = actor_for_user(family["user"])
    assert actor.kind == actors.PATIENT and actor.represented_patient_id == family["paula"].pk
    assert _reaches(actor, family["paula"], roles.VIEW_CLINICAL)
    ev = _last_event()
    assert (ev.actor_kind, ev.on_behalf_of, ev.actor_id, ev.outcome) == (
        "patient",
        family["paula"].pk,
        family["user"].pk,
        "success",
    )
    assert not _reaches(actor, family["paula"], roles.PRESCRIBE)  # read and booking only
    assert not _reaches(actor, family["paula"], roles.CHANGE_CLINICAL)
    assert not _reaches(actor, patient, roles.VIEW_DEMOGRAPHICS)  # someone else
    assert not _reaches(actor, family["sam"], roles.VIEW_DEMOGRAPHICS)  # no proxy grant yet
    ev = _last_event()
    assert (ev.actor_kind, ev.outcome) == ("patient", "denied")
    assert list(visible_patients(actor)) == [family["paula"]]


def test_a_proxy_reaches_the_patient_within_the_grants_scope(family):
    _proxy(family, scope=READ)
    actor = actor_for_user(family["user"], acting_for=family["sam"].pk)
    assert actor.kind == actors.PROXY and actor.own_patient_id == family["paula"].pk
    assert _reaches(actor, family["sam"], roles.VIEW_DEMOGRAPHICS)
    ev = _last_event()
    assert (ev.actor_kind, ev.on_behalf_of, ev.actor_id) == ("proxy", family["sam"].pk, family["user"].pk)
    assert _reaches(actor, family["sam"], roles.VIEW_SCHEDULE)
    # Out of scope: the grant does not give the chart.
    assert not _reaches(actor, family["sam"], roles.VIEW_CLINICAL)
    ev = _last_event()
    assert (ev.actor_kind, ev.on_behalf_of, ev.outcome) == ("proxy", family["sam"].pk, "denied")
    # Acting for Sam, Paula does not reach her own record (she switches back to act as herself).
    assert not _reaches(actor, family["paula"], roles.VIEW_DEMOGRAPHICS)
    assert set(represented_choices(family["user"])) == {family["paula"].pk, family["sam"].pk}


@pytest.mark.parametrize(
    "grant",
    [
        {"expires": -1},  # expired a second ago
        {"starts": 60},  # not begun
        {"revoked": True},
    ],
    ids=["expired", "not-yet-started", "revoked"],
)
def test_an_inactive_proxy_grant_reaches_nothing(family, grant):
    _proxy(family, **grant)
    actor = actor_for_user(family["user"], acting_for=family["sam"].pk)
    assert not _reaches(actor, family["sam"], roles.VIEW_DEMOGRAPHICS)
    assert represented_choices(family["user"]) == [family["paula"].pk]


def test_a_proxy_grant_holds_to_the_minute_of_its_expiry(family):
    grant = _proxy(family, expires=90)
    actor = actor_for_user(family["user"], acting_for=family["sam"].pk)
    assert _reaches(actor, family["sam"], roles.VIEW_DEMOGRAPHICS)
    # The door reads the grant at every access: once it has expired, the same actor (same session) is refused.
    ProxyGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(milliseconds=1))
    assert not _reaches(actor, family["sam"], roles.VIEW_DEMOGRAPHICS)


def test_acting_for_a_patient_without_a_grant_reaches_nothing(family, patient):
    actor = actor_for_user(family["user"], acting_for=patient.pk)
    assert actor.kind == actors.PROXY
    assert not _reaches(actor, patient, roles.VIEW_DEMOGRAPHICS)
    assert list(visible_patients(actor)) == []


def test_the_actor_is_built_from_the_request(rf, family, clinician):
    _proxy(family)
    request = rf.get("/")
    request.user, request.session = family["user"], {ACTING_FOR: str(family["sam"].pk)}
    assert actor_from_request(request).kind == actors.PROXY
    request.session = {}
    assert actor_from_request(request).kind == actors.PATIENT
    request.user = clinician
    assert actor_from_request(request) == actors.staff(clinician)


def test_staff_are_recorded_as_staff_for_nobody(clinician, patient):
    assert _reaches(clinician, patient, roles.VIEW_CLINICAL)
    ev = _last_event()
    assert (ev.actor_kind, ev.on_behalf_of, ev.actor_id) == ("staff", None, clinician.pk)


# ------------------------------------------------------------------ system clients
@pytest.fixture
def service(db, patient, other_patient):
    """A client's service account that is on both patients' care teams with a clinician's role."""
    account = UserFactory(username="svc.lab", roles=[Role.CLINICIAN])
    for p in (patient, other_patient):
        care_team_grant(patient=p, user=account, care_role="Lab interface")
    return account


def _client_token(account, scope="system/*.read"):
    Application = get_application_model()
    app = Application.objects.create(
        name="lab",
        user=account,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    return get_access_token_model().objects.create(
        user=None,
        application=app,
        token=secrets.token_urlsafe(30),
        scope=scope,
        expires=timezone.now() + timedelta(hours=1),
    )


def test_a_system_client_reads_within_its_scopes(service, patient, other_patient):
    token = _client_token(service)
    actor = actor_from_token(token)
    assert actor.kind == actors.SYSTEM and actor.client_id == token.application.client_id
    assert _reaches(actor, patient, roles.VIEW_CLINICAL) and _reaches(
        actor, other_patient, roles.VIEW_CLINICAL
    )
    ev = _last_event()
    assert (ev.actor_kind, ev.on_behalf_of, ev.actor_id) == ("system", None, service.pk)
    # Its account may prescribe and document; a read scope never does.
    assert not _reaches(actor, patient, roles.PRESCRIBE)
    assert not _reaches(actor, patient, roles.CHANGE_CLINICAL)
    assert not _reaches(
        actor_from_token(_client_token(service, scope="user/*.read")), patient, roles.VIEW_CLINICAL
    )


def test_a_system_client_bound_to_a_patient_or_a_group_reaches_only_those(service, patient, other_patient):
    token = _client_token(service)
    binding = ClientBinding.objects.create(client_id=token.application.client_id, patient=patient)
    actor = actor_from_token(token)
    assert _reaches(actor, patient, roles.VIEW_DEMOGRAPHICS)
    assert not _reaches(actor, other_patient, roles.VIEW_DEMOGRAPHICS)
    ward = Group.objects.create(name="Ward 7")
    care_team_grant(patient=other_patient, group=ward, care_role="Ward")
    binding.patient, binding.group = None, ward
    binding.save()
    actor = actor_from_token(token)
    assert not _reaches(actor, patient, roles.VIEW_DEMOGRAPHICS)
    assert _reaches(actor, other_patient, roles.VIEW_DEMOGRAPHICS)


def test_a_system_client_whose_account_is_off_the_team_reaches_nothing(db, patient):
    actor = actor_from_token(_client_token(UserFactory(username="svc.none", roles=[Role.CLINICIAN])))
    assert not _reaches(actor, patient, roles.VIEW_DEMOGRAPHICS)


# ------------------------------------------------------------------ the chain covers the new fields
def test_the_chain_covers_kind_and_for_whom_and_still_verifies_older_events(family, clinician, patient):
    _proxy(family)
    AccessEvent.objects.bulk_create(  # an event as recorded before actor kinds: no kind, for nobody
        [AccessEvent(occurred_at=timezone.now(), actor_username="old", action="view", category="test")]
    )
    old = _last_event()
    assert old.actor_kind == "" and old.on_behalf_of is None
    assert b"actor_kind" not in event_canonical(old) and b"on_behalf_of" not in event_canonical(old)
    _reaches(
        actor_for_user(family["user"], acting_for=family["sam"].pk), family["sam"], roles.VIEW_DEMOGRAPHICS
    )
    _reaches(clinician, patient, roles.VIEW_DEMOGRAPHICS)
    proxied = AccessEvent.objects.filter(actor_kind="proxy").order_by("-id").first()
    before = event_canonical(proxied)
    assert b'"actor_kind":"proxy"' in before and str(family["sam"].pk).encode() in before
    proxied.on_behalf_of = None
    assert event_canonical(proxied) != before  # a changed "for whom" breaks the content hash
    proxied.on_behalf_of, proxied.actor_kind = family["sam"].pk, "staff"
    assert event_canonical(proxied) != before
    audit_link_chain()
    result = audit_verify(link_first=False)
    assert result.ok, result.reason


def test_the_fhir_api_acts_as_the_client_and_records_it(client, service, patient, other_patient):
    token = _client_token(service)
    ClientBinding.objects.create(client_id=token.application.client_id, patient=patient)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.token}"}
    assert client.get(f"/fhir/Patient/{patient.pk}", **auth).status_code == 200
    ev = _last_event()
    assert (ev.actor_kind, ev.actor_id, ev.channel, ev.patient_id) == (
        "system",
        service.pk,
        "api",
        patient.pk,
    )
    assert client.get(f"/fhir/Patient/{other_patient.pk}", **auth).status_code == 404
    assert (_last_event().actor_kind, _last_event().outcome) == ("system", "denied")


def test_the_fhir_api_acts_for_a_proxys_launch_patient(client, family):
    _proxy(family, scope=READ)
    Application = get_application_model()
    app = Application.objects.create(
        name="family app",
        user=family["user"],
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://app.example.test/callback",
    )
    token = get_access_token_model().objects.create(
        user=family["user"],
        application=app,
        token=secrets.token_urlsafe(30),
        scope="patient/*.read",
        expires=timezone.now() + timedelta(hours=1),
    )
    from fhirapi.models import PatientLaunchContext

    PatientLaunchContext.objects.create(token=token, patient=family["sam"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.token}"}
    assert client.get(f"/fhir/Patient/{family['sam'].pk}", **auth).status_code == 200
    ev = _last_event()
    assert (ev.actor_kind, ev.on_behalf_of, ev.actor_id) == ("proxy", family["sam"].pk, family["user"].pk)
    assert client.get(f"/fhir/Patient/{family['paula'].pk}", **auth).status_code == 404


def test_a_proxy_with_no_record_of_their_own(family):
    grandma = UserFactory(username="gran", roles=[])
    PatientAccount.objects.create(user=grandma, patient=None)
    ProxyGrant.objects.create(
        user=grandma,
        patient=family["sam"],
        relationship=ProxyGrant.Relationship.CAREGIVER,
        scope=[roles.VIEW_SCHEDULE],
        starts_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert not visible_patients(actor_for_user(grandma)).exists()  # acting for nobody: nothing
    actor = actor_for_user(grandma, acting_for=family["sam"].pk)
    assert actor.kind == actors.PROXY
    assert _reaches(actor, family["sam"], roles.VIEW_SCHEDULE)
    assert not _reaches(actor, family["sam"], roles.VIEW_DEMOGRAPHICS)
