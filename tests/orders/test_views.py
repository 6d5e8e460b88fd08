"""The orders pages: query counts that stay constant as results grow, in-office tests with units and ranges, the
requisition PDF with its barcode, the unmatched queue, and the chart's orders card."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders import hl7wire

from .test_hl7 import ident, oru, receive


def _reports(patient, clinician, n, *, critical_every=5):
    from encounters.models import Observation
    from orders.models import ResultReport

    for i in range(n):
        r = ResultReport.objects.create(
            patient=patient,
            ordering_clinician=clinician,
            loinc="2339-0",
            test_name=f"Glucose {i}",
            status="final",
            is_critical=i % critical_every == 0,
            is_abnormal=i % 2 == 0,
            observed_at=timezone.now() - timedelta(days=i),
        )
        Observation.objects.create(
            patient=patient,
            loinc_code="2339-0",
            display="Glucose",
            value_quantity=90 + i,
            value_unit="mg/dL",
            reference_low=70,
            reference_high=99,
            effective=timezone.now() - timedelta(days=i),
            report_id=r.pk,
        )


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
    assert resp.status_code == 200
    return len(ctx.captured_queries), resp


@pytest.mark.parametrize("page", ["review", "results"])
def test_query_counts_stay_constant_as_results_grow(login, clinician, patient, page):
    client = login(clinician)
    url = reverse("orders:review") if page == "review" else reverse("encounters:results", args=[patient.pk])
    _reports(patient, clinician, 2)
    small, _ = _count(client, url)
    _reports(patient, clinician, 60)
    large, resp = _count(client, url)
    assert large == small, (small, large)
    if page == "review":
        rows = resp.content.decode().split('data-testid="review-row"')[1:]
        flags = ["Critical" in r.split("</tr>")[0] for r in rows]
        assert flags == sorted(flags, reverse=True)  # critical first


def test_in_office_tests_with_units_and_ranges(login, clinician, patient, catalogue):
    from encounters.models import Observation
    from orders.models import ResultReport

    client = login(clinician)
    glucose = catalogue["41653-7"]
    url = reverse("orders:in_office", args=[patient.pk])
    page = client.get(url, {"test": glucose.pk}).content.decode()
    assert "Glucose (glucometer) (mg/dL)" in page and "typical 70–140 mg/dL" in page
    bad = client.post(url, {"test": glucose.pk, "c_41653-7": "lots"})
    assert bad.status_code == 400 and "enter a number in mg/dL" in bad.content.decode()
    impossible = client.post(url, {"test": glucose.pk, "c_41653-7": "-5"})
    assert impossible.status_code == 400 and "not a possible value" in impossible.content.decode()
    assert not Observation.objects.exists()
    resp = client.post(url, {"test": glucose.pk, "c_41653-7": "452"})
    assert resp.status_code == 302
    report = ResultReport.objects.get()
    assert report.is_critical and report.ordering_clinician == clinician
    obs = Observation.objects.get()
    assert obs.value_quantity == 452 and obs.value_unit == "mg/dL" and obs.interpretation == "HH"
    strep = catalogue["78012-2"]
    client.post(url, {"test": strep.pk, "c_78012-2": "Positive"})
    assert Observation.objects.get(loinc_code="78012-2").interpretation == "A"
    wrong = client.post(url, {"test": strep.pk, "c_78012-2": "Maybe"})
    assert wrong.status_code == 400 and "choose one of Negative, Positive" in wrong.content.decode()


def test_requisition_pdf_has_the_order_and_its_barcode(login, clinician, patient, catalogue, lab, icd10):
    from .test_hl7 import sign

    order = sign(clinician, patient, catalogue["51990-0"], lab)
    resp = login(clinician).get(reverse("orders:requisition", args=[order.pk]))
    assert resp.status_code == 200 and resp["Content-Type"] == "application/pdf"
    body = resp.content
    assert body.startswith(b"%PDF")
    from audit.models import AccessEvent

    assert AccessEvent.objects.filter(action="print", patient_id=patient.pk).exists()


def test_order_page_flow(login, clinician, patient, catalogue, lab, icd10):
    from encounters.models import Problem
    from orders.models import Order
    from tests.factories import PASSWORD

    Problem.objects.create(patient=patient, code_id="E11.9", description="Type 2 diabetes mellitus")
    client = login(clinician)
    chart = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert reverse("orders:new", args=[patient.pk]) in chart
    url = reverse("orders:new", args=[patient.pk])
    found = client.get(url, {"q": "lipid"}).content.decode()
    assert "Lipid panel" in found and "Hemoglobin A1c" not in found
    form = client.get(url, {"test": catalogue["57698-3"].pk}).content.decode()
    assert "Hours since the last meal" in form and "Type 2 diabetes mellitus" in form
    data = {
        "test": catalogue["57698-3"].pk,
        "diagnoses": ["E11.9"],
        "priority": "routine",
        "lab": lab.pk,
        "q_FAST": "12",
        "password": PASSWORD,
    }
    resp = client.post(url, data)
    assert resp.status_code == 302
    order = Order.objects.get()
    page = client.get(resp.url).content.decode()
    assert order.placer_number in page and "Waiting to send" in page


def test_unmatched_queue_attach_by_mrn(login, nurse, patient):
    from orders.models import InboundMessage

    receive(oru(ident(patient, mrn="ZZ1", family="Garsia")))
    msg = InboundMessage.objects.get()
    client = login(nurse)
    queue = client.get(reverse("orders:unmatched")).content.decode()
    assert "no patient with MRN ZZ1" in queue
    detail = client.get(reverse("orders:unmatched_detail", args=[msg.pk])).content.decode()
    assert patient.mrn in detail  # the scorer's candidate, visible to this nurse
    assert "ORU^R01" in detail  # the raw message
    bad = client.post(reverse("orders:unmatched_detail", args=[msg.pk]), {"mrn": "NOPE"})
    assert bad.status_code == 400 and "No patient with MRN NOPE" in bad.content.decode()
    ok = client.post(reverse("orders:unmatched_detail", args=[msg.pk]), {"mrn": patient.mrn})
    assert ok.status_code == 302
    msg.refresh_from_db()
    assert msg.status == "attached"


def test_demo_builds_every_state(db, clinician, patient):
    from django.contrib.auth import get_user_model

    from orders import demo
    from orders.models import InboundMessage, Order, ResultReport

    house = get_user_model().objects.get(username="dr.alice")
    patients = [patient] * 13
    demo.demo_build(patients=patients, providers=[house], front_desk=None, rng=__import__("random").Random(1))
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"sent", "queued", "final", "corrected"} <= statuses
    assert ResultReport.objects.filter(is_critical=True, reviewed_at__isnull=True).exists()
    assert ResultReport.objects.filter(status="corrected").exists()
    assert InboundMessage.objects.filter(status="unmatched").count() == 1
    assert hl7wire  # the demo's messages went through the same wire format
