"""Every page that shows patient data records its access event; every write of patient data leaves an audit entry.

Nothing is listed by hand: the URLs come from the authorization matrix of every app (tests/*/matrix.py, the same
data tests/test_authorization_matrix.py checks), run for every persona the matrix lets in.

- Reads: a GET that answers 200 and shows a patient (its MRN, name as displayed or id is on the page) writes exactly
  one successful access event naming that patient (per data category), with a data category; every event the
  request writes has a category.
- Writes: a POST that changes a patient-linked table (found from the models' foreign keys, the same walk as
  tests/audit/test_registration.py; measured with PostgreSQL's per-transaction counters, so bulk `update()` and
  `bulk_create` count too) leaves a django-auditlog entry or an explicit audit event (not a read) for the request.

A failure names the URL and the persona; other apps' pages are held to the same rule.
"""

from types import SimpleNamespace

import pytest
from auditlog.models import LogEntry
from django.db import connection, transaction
from django.db.models import Max
from django.test import Client
from django.urls import reverse

from audit.models import AccessEvent
from tests.audit.helpers import mark
from tests.audit.test_registration import patient_linked_models
from tests.conftest import verified_client
from tests.test_authorization_matrix import ALL_ENTRIES, MODULES, PERSONAS, _value

pytestmark = pytest.mark.django_db
READ_ACTIONS = {"view", "list"}


def _patient_tables() -> set[str]:
    from django.apps import apps

    return {apps.get_model(label)._meta.db_table for label in patient_linked_models()}


def _writes() -> dict[str, int]:
    """Rows inserted, updated or deleted so far in this transaction, per table (PostgreSQL's xact counters)."""
    with connection.cursor() as cur:
        cur.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables")
        return dict(cur.fetchall())


def _ctx(request, app, patient, other_patient):
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    ctx = SimpleNamespace(patient=patient, other_patient=other_patient, users=users, **users)
    if hasattr(MODULES[app], "setup"):
        MODULES[app].setup(ctx)
    return ctx, users


def _cases(method: str, statuses: set[int]):
    return [
        (app, i, e)
        for app, i, e in ALL_ENTRIES
        if e.get("method", "get") == method
        and any(s in statuses for p, s in e["expect"].items() if p != "anonymous")
    ]


READS = _cases("get", {200})
WRITES = _cases("post", {200, 201, 302, 303})


def _ids(cases):
    return [f"{e['name']}-{i}" for _, i, e in cases]


@pytest.mark.parametrize(("app", "index", "entry"), READS, ids=_ids(READS))
def test_every_page_showing_patient_data_records_one_access_event(
    request, app, index, entry, patient, other_patient
):
    ctx, users = _ctx(request, app, patient, other_patient)
    url = reverse(entry["name"], kwargs=_value(entry.get("kwargs", {}), ctx))
    data = _value(entry.get("data", {}), ctx)
    wrong = []
    for persona, expected in entry["expect"].items():
        if persona == "anonymous" or expected != 200:
            continue
        with transaction.atomic():
            since = mark()
            resp = verified_client(Client(), users[persona]).get(url, data)
            body = resp.content.decode(errors="replace") if not getattr(resp, "streaming", False) else ""
            events = list(AccessEvent.objects.filter(id__gt=since).order_by("id"))
            transaction.set_rollback(True)
        if resp.status_code != 200:
            continue  # the matrix test reports a wrong status
        for typed in (data or {}).values():  # what the user typed (a search for an MRN) is echoed, not shown
            body = body.replace(str(typed), "")
        if any(not e.category for e in events):
            wrong.append(f"{persona}: an event without a data category")
        for who in (patient, other_patient):
            if who.mrn not in body and who.display_name not in body and str(who.pk) not in body:
                continue
            shown = [
                e
                for e in events
                if e.outcome == "success"
                and e.actor_id == users[persona].pk
                and (e.patient_id == who.pk or who.pk in (e.patient_ids or []))
            ]
            per_category: dict[str, int] = {}
            for e in shown:
                per_category[e.category] = per_category.get(e.category, 0) + 1
            if not shown:
                wrong.append(f"{persona}: shows patient {who.mrn} but records no event naming them")
            elif any(n != 1 for n in per_category.values()):
                # One event per data category shown: a chart page's sections (patients/chart.py) may each record
                # the category they show (docs/architecture.md), never the same one twice.
                wrong.append(
                    f"{persona}: {per_category} events naming the patient, expected one per category"
                )
    assert not wrong, f"GET {url}: " + "; ".join(wrong)


@pytest.mark.parametrize(("app", "index", "entry"), WRITES, ids=_ids(WRITES))
def test_every_write_of_patient_data_is_audited(request, app, index, entry, patient, other_patient):
    ctx, users = _ctx(request, app, patient, other_patient)
    url = reverse(entry["name"], kwargs=_value(entry.get("kwargs", {}), ctx))
    data = _value(entry.get("data", {}), ctx)
    tables = _patient_tables()
    wrong = []
    for persona, expected in entry["expect"].items():
        if persona == "anonymous" or expected not in (200, 201, 302, 303):
            continue
        with transaction.atomic():
            since, last_entry = mark(), LogEntry.objects.aggregate(m=Max("id"))["m"] or 0
            before = _writes()
            resp = verified_client(Client(), users[persona]).post(url, data)
            after = _writes()
            changed = sorted(t for t in tables if after.get(t, 0) != before.get(t, 0))
            logged = LogEntry.objects.filter(id__gt=last_entry).exists()
            # An explicit audit event of the request (bulk writes): not a read, not made from a LogEntry.
            explicit = (
                AccessEvent.objects.filter(id__gt=since, outcome="success")
                .exclude(action__in=READ_ACTIONS)
                .exclude(channel="write")
                .exists()
            )
            transaction.set_rollback(True)
        if changed and not (logged or explicit):
            wrong.append(f"{persona} ({resp.status_code}) changed {', '.join(changed)} with no audit entry")
    assert not wrong, f"POST {url}: " + "; ".join(wrong)


def test_bulk_writes_are_caught_by_the_counters(patient):
    """The write check sees a bulk update that bypasses model signals (so a bulk write without its explicit event
    would fail the test above)."""
    from patients.models import Patient

    with transaction.atomic():
        before = _writes()
        Patient.objects.filter(pk=patient.pk).update(pronouns="she/her")
        after = _writes()
        transaction.set_rollback(True)
    assert after["patients_patient"] == before.get("patients_patient", 0) + 1
