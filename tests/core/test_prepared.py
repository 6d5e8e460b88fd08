"""Queries compiled once per process (core/prepared.py): every prepared query in the code answers exactly what its
plain queryset answers (same rows, same order, same values, related rows and annotations loaded), for whichever
patient it is asked about; it runs one query, compiles once, and runs on the calling thread's connection.
Also the two row-formatting helpers of the chart: core.links.pk_url and the isodate filter."""

import gc
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, connections
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, reverse, set_script_prefix
from django.utils import timezone

from core.links import pk_url
from core.prepared import SENTINEL_ID, Prepared
from encounters import models as enc
from prescriptions import models as rx
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


def all_prepared() -> list[Prepared]:
    get_resolver().url_patterns  # noqa: B018 - imports every view and the selectors behind them
    # type(), not isinstance(): isinstance would wake lazy objects (request-bound ones raise outside a request)
    return [o for o in gc.get_objects() if type(o) is Prepared]


def fill(p, clinician):
    """Rows of every kind the chart shows, more than each card's limit, in orders that differ from insertion."""
    now = timezone.now()
    for i, (text, crit) in enumerate(
        [("Latex", "low"), ("Penicillin", "high"), ("Aspirin", "unable-to-assess")]
    ):
        enc.Allergy.objects.create(
            patient=p,
            substance_text=text,
            category="medication",
            criticality=crit,
            status="inactive" if i == 0 else "active",
        )
    for name in ("Metformin 500 mg", "Atorvastatin 20 mg", "Zolpidem 5 mg"):
        enc.MedicationStatement.objects.create(patient=p, name=name, status="active")
    enc.MedicationStatement.objects.create(patient=p, name="Amoxicillin", status="completed")
    for d in ("Hypertension", "Asthma", "Diabetes"):
        enc.Problem.objects.create(
            patient=p, description=d, code_system="http://snomed.info/sct", code_value=d[:3]
        )
    for i in range(12):
        enc.Encounter.objects.create(
            patient=p, provider=clinician, start=now - timedelta(days=i * 3 % 12 + 1), reason=f"visit {i}"
        )
    enc.VitalSigns.objects.create(patient=p, taken_at=now - timedelta(days=2), systolic=120, heart_rate=70)
    enc.VitalSigns.objects.create(patient=p, taken_at=now - timedelta(days=1), systolic=141, heart_rate=88)
    for i in range(10):
        enc.Immunization.objects.create(
            patient=p,
            vaccine_code=str(140 + i),
            performer=clinician,
            occurrence=now - timedelta(days=30 * ((i * 7) % 10)),
            status="entered-in-error" if i == 3 else "completed",
        )
    for i in range(9):
        enc.Observation.objects.create(
            patient=p,
            loinc_code=("2345-7", "4548-4", "718-7")[i % 3],
            display="Lab",
            value_quantity=90 + i,
            value_unit="mg/dL",
            effective=now - timedelta(days=i + 1),
        )
    med, _ = rx.Medication.objects.get_or_create(
        rxcui="197806", defaults={"name": "Ibuprofen 600 MG Oral Tablet"}
    )
    pharmacy, _ = rx.Pharmacy.objects.get_or_create(ncpdp_id="1234567", defaults={"name": "Corner Pharmacy"})
    for i in range(22):
        rx.Prescription.objects.create(
            patient=p,
            prescriber=clinician,
            medication=med,
            dose=1,
            dose_unit="tablet",
            frequency="QD",
            sig_text=f"{i + 1} tablet daily",
            quantity=30,
            quantity_unit="C48542",
            prescriber_order_number=f"PON-{p.mrn}-{i}",
        )
    rx.PatientPharmacy.objects.create(patient=p, pharmacy=pharmacy)


def snapshot(rows) -> list:
    """Each row's fields, its select_related rows' fields and its annotations (anything the ORM set on it)."""
    out = []
    for r in rows:
        cached = {
            name: (type(obj).__name__, obj.pk if obj is not None else None)
            for name, obj in r._state.fields_cache.items()
        }
        extra = {
            k: v
            for k, v in vars(r).items()
            if not k.startswith("_") and k not in {f.attname for f in r._meta.concrete_fields}
        }
        out.append(
            (type(r).__name__, [getattr(r, f.attname) for f in r._meta.concrete_fields], cached, extra)
        )
    return out


def test_there_are_prepared_queries_for_the_chart():
    assert len(all_prepared()) >= 10


def test_every_prepared_query_answers_what_its_queryset_answers(patient, other_patient, clinician):
    fill(patient, clinician)
    fill(other_patient, clinician)
    for prepared in all_prepared():
        for p in (patient, other_patient):
            expected = list(prepared.queryset(patient_id=p.pk))
            got = prepared(patient_id=p.pk)
            assert snapshot(got) == snapshot(expected), prepared.build
    # and each answers for the patient it is asked about, not for the first one compiled or asked
    for prepared in all_prepared():
        mine = {r.pk for r in prepared(patient_id=patient.pk)}
        theirs = {r.pk for r in prepared(patient_id=other_patient.pk)}
        assert not (mine & theirs)


def test_the_cards_have_rows_to_compare(patient, clinician):
    """The comparison above is only worth something if each query finds rows."""
    fill(patient, clinician)
    empty = [p.build for p in all_prepared() if not p(patient_id=patient.pk)]
    assert empty == []


def test_a_prepared_query_runs_one_query_loads_related_rows_and_compiles_once(patient, clinician):
    fill(patient, clinician)
    built = []

    def build(patient_id):
        built.append(patient_id)
        return (
            enc.Encounter.objects.filter(patient_id=patient_id)
            .select_related("provider")
            .order_by("-start")[:5]
        )

    prepared = Prepared(build, patient_id=SENTINEL_ID)
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            rows = prepared(patient_id=patient.pk)
            names = [r.provider.username for r in rows]  # no query per row: the provider came with the row
        assert len(ctx.captured_queries) == 1
        assert names == ["dr.alice"] * 5
    assert built == [SENTINEL_ID]


def test_a_prepared_query_runs_on_the_calling_threads_connection(patient):
    prepared = Prepared(
        lambda patient_id: enc.Problem.objects.filter(patient_id=patient_id), patient_id=SENTINEL_ID
    )
    prepared(patient_id=patient.pk)  # compiled on this thread
    seen = {}

    def other_thread():
        try:
            with CaptureQueriesContext(connections["default"]) as ctx:
                prepared(patient_id=patient.pk)
            seen["queries"] = len(ctx.captured_queries)
        finally:
            connections.close_all()

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen["queries"] == 1


def test_a_query_the_sentinel_does_not_reach_is_refused():
    with pytest.raises(ValueError, match="does not reach"):
        Prepared(lambda patient_id: enc.Problem.objects.all(), patient_id=SENTINEL_ID)(patient_id=SENTINEL_ID)
    with pytest.raises(ValueError, match="values"):
        Prepared(
            lambda patient_id: enc.Problem.objects.filter(patient_id=patient_id).values("pk"),
            patient_id=SENTINEL_ID,
        )(patient_id=SENTINEL_ID)


# ------------------------------------------------------------------ pk_url, isodate
def test_pk_url_is_what_reverse_gives(patient):
    for name in ("patients:detail", "encounters:timeline", "prescriptions:new"):
        assert pk_url(name, patient.pk) == reverse(name, args=[patient.pk])
    other = make_patient(given_name="Una")
    assert pk_url("patients:detail", other.pk) == reverse("patients:detail", args=[other.pk])


def test_pk_url_follows_the_script_prefix(patient):
    try:
        set_script_prefix("/clinic/")
        assert pk_url("patients:detail", patient.pk) == f"/clinic/patients/{patient.pk}/"
        assert pk_url("patients:detail", patient.pk) == reverse("patients:detail", args=[patient.pk])
    finally:
        set_script_prefix("/")
    assert pk_url("patients:detail", patient.pk) == f"/patients/{patient.pk}/"


def test_pk_url_refuses_a_view_that_takes_more_than_the_key():
    with pytest.raises(Exception):  # noqa: B017,PT011 - NoReverseMatch or ValueError, either refuses
        pk_url("patients:care_team_remove", SENTINEL_ID)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 1, 3, 30, tzinfo=UTC),  # the evening before in America/New_York
        datetime(2026, 7, 4, 12, 0, tzinfo=UTC),
        date(1980, 2, 29),
        None,
        "",
    ],
)
def test_isodate_shows_what_the_date_filter_shows(value, settings):
    settings.TIME_ZONE = "America/New_York"
    timezone.activate("America/New_York")
    try:
        ours = Template("{% load ehr_format %}{{ v|isodate }}").render(Context({"v": value}))
        django = Template('{{ v|date:"Y-m-d" }}').render(Context({"v": value}))
    finally:
        timezone.deactivate()
    assert ours == django
    if isinstance(value, datetime) and value.hour == 3:
        assert ours == "2026-02-28"
