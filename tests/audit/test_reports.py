"""The privacy officer's reports: per patient, per user, break the glass; sorted, paged, exported; audited."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import categories
from audit.models import AccessEvent
from audit.services import access_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(clinician, nurse, patient, other_patient):
    access_record(actor=clinician, action="view", category=categories.CHART_SUMMARY, patient_id=patient.pk)
    access_record(actor=nurse, action="view", category=categories.VITALS, patient_id=patient.pk)
    access_record(
        actor=clinician,
        action="list",
        category=categories.PATIENT_LIST,
        patient_ids=[patient.pk, other_patient.pk],
    )
    access_record(
        actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=other_patient.pk
    )
    old = AccessEvent(
        occurred_at=timezone.now() - datetime.timedelta(days=90),
        actor=clinician,
        actor_username=clinician.username,
        patient_id=patient.pk,
        action="view",
        category="old view",
    )
    old.save(force_insert=True)


def rows(resp):
    return resp.context["report"].rows


def test_who_opened_this_chart(login, privacy, patient, history):
    resp = login(privacy).get(reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events"})
    assert resp.status_code == 200
    cats = [r.event.category for r in rows(resp) if r.event.channel != "write"]  # (registration writes, too)
    # the chart view, the nurse's vitals and the list naming the patient; not the other patient's, not the old one
    assert sorted(cats) == sorted([categories.CHART_SUMMARY, categories.VITALS, categories.PATIENT_LIST])
    body = resp.content.decode()
    assert patient.mrn in body and "GARCIA, Maria" in body
    ev = AccessEvent.objects.filter(actor=privacy, category=categories.AUDIT_REPORT).get()
    assert ev.patient_id == patient.pk and ev.detail["report"] == "patient"


def test_date_range(login, privacy, patient, history):
    start = (timezone.localdate() - datetime.timedelta(days=100)).isoformat()
    end = (timezone.localdate() - datetime.timedelta(days=80)).isoformat()
    resp = login(privacy).get(
        reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events", "start": start, "end": end}
    )
    assert [r.event.category for r in rows(resp)] == ["old view"]


def test_what_did_this_user_open(login, privacy, clinician, patient, other_patient, history):
    resp = login(privacy).get(reverse("audit:user_report"), {"username": clinician.username})
    assert resp.status_code == 200
    assert {r.event.category for r in rows(resp)} == {
        categories.CHART_SUMMARY,
        categories.PATIENT_LIST,
        categories.DEMOGRAPHICS,
    }
    body = resp.content.decode()
    assert other_patient.mrn in body and "+1 more" in body
    ev = AccessEvent.objects.filter(actor=privacy, category=categories.AUDIT_REPORT).get()
    assert set(ev.patient_ids) == {patient.pk, other_patient.pk}  # names the patients shown


@pytest.mark.parametrize(
    "sort",
    ["time", "user", "action", "category", "outcome", "patient", "ip", "channel", "break_glass", "reason"],
)
def test_sortable_by_every_column(login, privacy, patient, clinician, history, sort):
    client = login(privacy)
    for s in (sort, f"-{sort}"):
        resp = client.get(reverse("audit:user_report"), {"username": clinician.username, "sort": s})
        assert resp.status_code == 200 and resp.context["report"].sort == s


def test_sort_order_and_unknown_keys(login, privacy, patient, history):
    client = login(privacy)
    resp = client.get(
        reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events", "sort": "category"}
    )
    cats = [r.event.category for r in rows(resp)]
    assert cats == sorted(cats)
    resp = client.get(
        reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events", "sort": "password; drop"}
    )
    assert resp.status_code == 200 and resp.context["report"].sort == "-time"


def test_pagination(login, privacy, clinician, patient):
    from tests.audit.helpers import naming

    already = AccessEvent.objects.filter(naming(patient.pk)).count()
    for _ in range(55 - already):
        access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
    client = login(privacy)
    first = client.get(reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events"})
    assert len(rows(first)) == 50 and first.context["next_url"]
    second = client.get(reverse("audit:patient_report") + first.context["next_url"])
    assert len(rows(second)) == 5 and second.context["prev_url"] and not second.context["next_url"]
    seen = {r.event.pk for r in rows(first)} | {r.event.pk for r in rows(second)}
    assert len(seen) == 55


def test_query_count_does_not_grow_with_rows(
    login, privacy, clinician, patient, django_assert_max_num_queries
):
    for _ in range(50):
        access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
    client = login(privacy)
    client.get(reverse("audit:patient_report"), {"mrn": patient.mrn})
    with django_assert_max_num_queries(16):
        client.get(reverse("audit:patient_report"), {"mrn": patient.mrn})


def test_csv_export_streams_every_row_and_is_audited(login, privacy, patient, clinician):
    access_record(
        actor=clinician,
        action="break_glass",
        category=categories.CHART_SUMMARY,
        patient_id=patient.pk,
        break_glass=True,
        detail={"reason": '=HYPERLINK("http://evil")'},
    )
    for _ in range(60):
        access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
    resp = login(privacy).get(reverse("audit:patient_report"), {"mrn": patient.mrn, "export": "csv"})
    assert resp.status_code == 200 and resp.streaming
    assert resp["Content-Type"].startswith("text/csv")
    data = list(csv.DictReader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert len([d for d in data if d["user"] == clinician.username and d["category"] == "demographics"]) == 60
    assert {d["patient_mrn"] for d in data} == {patient.mrn}
    reasons = [d["reason"] for d in data if d["reason"]]
    assert reasons == ['\'=HYPERLINK("http://evil")']  # never a live spreadsheet formula
    assert (
        AccessEvent.objects.filter(
            actor=privacy, action="export", category=categories.AUDIT_REPORT, patient_id=patient.pk
        ).count()
        == 1
    )


def test_break_glass_report_shows_the_reason(login, privacy, colleague, other_patient):
    access_record(
        actor=colleague,
        action="break_glass",
        category=categories.CHART_SUMMARY,
        patient_id=other_patient.pk,
        break_glass=True,
        detail={"reason": "Collapsed in the waiting room"},
    )
    access_record(
        actor=colleague,
        action="view",
        category=categories.CHART_SUMMARY,
        patient_id=other_patient.pk,
        break_glass=True,
    )
    access_record(
        actor=colleague, action="view", category=categories.CHART_SUMMARY, patient_id=other_patient.pk
    )
    client = login(privacy)
    resp = client.get(reverse("audit:break_glass_report"))
    assert len(rows(resp)) == 2
    assert "Collapsed in the waiting room" in resp.content.decode()
    resp = client.get(reverse("audit:break_glass_report"), {"grants_only": "on"})
    assert [r.reason for r in rows(resp)] == ["Collapsed in the waiting room"]


def test_bad_input(login, privacy):
    client = login(privacy)
    resp = client.get(reverse("audit:patient_report"), {"mrn": "12<script>"})
    assert resp.status_code == 200 and "An MRN is 8 to 12 digits." in resp.content.decode()
    resp = client.get(reverse("audit:patient_report"), {"mrn": "00000000"})
    assert "No patient has that MRN." in resp.content.decode()
    resp = client.get(reverse("audit:user_report"), {"username": "nobody", "start": "2020-99-99"})
    assert resp.status_code == 200 and "Enter the start date as YYYY-MM-DD." in resp.content.decode()
    assert not AccessEvent.objects.filter(actor=privacy, category=categories.AUDIT_REPORT).exists()


@pytest.mark.parametrize("persona", ["clinician", "nurse", "front_desk", "admin_user"])
def test_only_privacy_officers(request, login, patient, persona):
    user = request.getfixturevalue(persona)
    client = login(user)
    names = ["audit:reports", "audit:patient_report", "audit:user_report", "audit:break_glass_report"]
    for name in names:
        assert client.get(reverse(name), {"mrn": patient.mrn}).status_code == 403
    # Each refusal is recorded: trying to read the audit is itself audited.
    denied = AccessEvent.objects.filter(actor=user, outcome="denied", category=categories.AUDIT_REPORT)
    assert sorted(e.detail["path"] for e in denied) == sorted(reverse(n) for n in names)


def test_privacy_officer_cannot_open_charts(login, privacy, patient):
    client = login(privacy)
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 404
    assert client.get(reverse("patients:search"), {"q": patient.mrn}).context["rows"] == []


def test_sorting_by_patient_places_list_events_by_the_patient_they_show(
    login, privacy, clinician, patient, other_patient
):
    # A list naming only the other patient, a view of `patient`, a list naming `patient` first.
    access_record(
        actor=clinician, action="list", category=categories.PATIENT_LIST, patient_ids=[other_patient.pk]
    )
    access_record(actor=clinician, action="view", category=categories.DEMOGRAPHICS, patient_id=patient.pk)
    access_record(
        actor=clinician,
        action="list",
        category=categories.PATIENT_LIST,
        patient_ids=[patient.pk, other_patient.pk],
    )
    client = login(privacy)
    for sort in ("patient", "-patient"):
        resp = client.get(reverse("audit:user_report"), {"username": clinician.username, "sort": sort})
        shown = [r.patient_mrn for r in rows(resp) if r.event.channel != "write"]
        assert "" not in shown  # every list row shows (and sorts by) the first patient it names
        assert shown == sorted(shown, reverse=sort.startswith("-"))


def _csv(resp):
    return list(csv.DictReader(io.StringIO(b"".join(resp.streaming_content).decode())))


@pytest.mark.parametrize("report", ["user", "break_glass"])
def test_csv_exports_record_one_event_naming_the_patients_exported(
    login, privacy, colleague, patient, other_patient, report
):
    access_record(
        actor=colleague,
        action="break_glass",
        category=categories.CHART_SUMMARY,
        patient_id=other_patient.pk,
        break_glass=True,
        detail={"reason": "Collapsed"},
    )
    access_record(
        actor=colleague,
        action="list",
        category=categories.PATIENT_LIST,
        break_glass=True,
        patient_ids=[patient.pk, other_patient.pk],
    )
    url = reverse(f"audit:{report}_report")
    params = {"username": colleague.username, "export": "csv"} if report == "user" else {"export": "csv"}
    data = _csv(login(privacy).get(url, params))
    exported = {d["patient_mrn"] for d in data if d["patient_mrn"]}
    assert exported == {patient.mrn, other_patient.mrn}
    ev = AccessEvent.objects.get(actor=privacy, action="export")
    assert set(ev.patient_ids) == {patient.pk, other_patient.pk}
    assert ev.detail["report"] == report and ev.detail["patients"] == 2


def test_patient_report_rows_show_the_subject_not_the_first_patient_of_a_list(
    login, privacy, clinician, patient, other_patient
):
    access_record(
        actor=clinician,
        action="list",
        category=categories.PATIENT_LIST,
        patient_ids=[other_patient.pk, patient.pk],
    )
    data = _csv(login(privacy).get(reverse("audit:patient_report"), {"mrn": patient.mrn, "export": "csv"}))
    assert {d["patient_mrn"] for d in data} == {patient.mrn}
    ev = AccessEvent.objects.get(actor=privacy, action="export")
    assert ev.patient_ids == [patient.pk]


def test_pages_are_capped(login, privacy, clinician, patient):
    from audit.selectors import MAX_PAGE

    client = login(privacy)
    resp = client.get(
        reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events", "page": MAX_PAGE + 1}
    )
    assert resp.status_code == 200 and "narrow the dates or export the CSV" in resp.content.decode()
    resp = client.get(
        reverse("audit:patient_report"),
        {"mrn": patient.mrn, "view": "events", "page": "99999999999999999999"},
    )
    assert resp.status_code == 200
    resp = client.get(
        reverse("audit:patient_report"), {"mrn": patient.mrn, "view": "events", "page": MAX_PAGE}
    )
    assert (
        resp.status_code == 200 and resp.context["report"].page == MAX_PAGE and not resp.context["next_url"]
    )


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        '\uff1dHYPERLINK("http://evil")',  # full-width equals sign
        "\uff0b1",
        "\uff0d1",
        "\uff20SUM(A1)",
        "|calc!A0",  # DDE through a leading pipe
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
    ],
)
def test_csv_cells_that_could_start_a_formula_are_quoted(text):
    from audit.views import _safe_cell

    assert _safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Checked the chart", "12", "", None, "a=b", "O'Brien"])
def test_csv_cells_of_plain_text_are_left_alone(text):
    from audit.views import _safe_cell

    assert _safe_cell(text) == ("" if text is None else text)
