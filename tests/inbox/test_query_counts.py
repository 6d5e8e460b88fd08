"""The inbox page and the home page's count run the same number of queries with 5 items as with 200."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox.models import Kind, Priority
from tests.factories import make_patient
from tests.inbox.conftest import post


def _patients(clinician, n):
    from patients.services import care_team_grant

    out = []
    for i in range(n):
        p = make_patient(given_name=f"Q{i}", ssn="")
        care_team_grant(patient=p, user=clinician, care_role="PCP")
        out.append(p)
    return out


def _fill(clinician, team, patients, n):
    for i in range(n):
        p = patients[i % len(patients)]
        kind = [Kind.RESULT, Kind.CRITICAL_RESULT, Kind.TASK, Kind.RENEWAL_REQUEST][i % 4]
        post(clinician, p, kind=kind, priority=[2, 0, 2, 1][i % 4], team=team if i % 3 == 0 else None)


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200
    return len(ctx.captured_queries)


def test_inbox_and_home_queries_stay_constant(login, clinician, team):
    patients = _patients(clinician, 12)
    _fill(clinician, team, patients, 5)
    urls = (reverse("inbox:inbox"), f"{reverse('inbox:inbox')}?queue=team:{team.pk}", reverse("home"))
    c = login(clinician)
    few = {u: _count(c, u) for u in urls}
    _fill(clinician, team, patients, 195)
    c = login(clinician)  # a fresh session: the idle-timeout bookkeeping does not save it during the counts
    many = {u: _count(c, u) for u in urls}
    assert many == few, (few, many)
    assert few[reverse("inbox:inbox")] <= 12


def test_critical_first_then_abnormal_then_newest(login, clinician, patient):
    normal = post(clinician, patient, title="normal one")
    abnormal = post(clinician, patient, priority=Priority.ABNORMAL, title="abnormal one")
    critical = post(
        clinician, patient, kind=Kind.CRITICAL_RESULT, priority=Priority.CRITICAL, title="critical one"
    )
    newer_normal = post(clinician, patient, title="newer normal")
    body = login(clinician).get(reverse("inbox:inbox")).content.decode()
    order = [body.index(f"item-{i.pk}") for i in (critical, abnormal, newer_normal, normal)]
    assert order == sorted(order)
