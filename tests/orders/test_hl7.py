"""HL7 v2.5.1 orders and results: building the ORM^O01, reading ORU^R01, ACKs both ways, matching, the unmatched
queue, corrections superseding visibly, and every kind of bad input getting a recorded outcome."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from orders import hl7wire
from tests.factories import PASSWORD, make_patient

from .conftest import start_lab_sim

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def sign(clinician, patient, test, lab, **kw):
    from orders import services

    data = dict(
        actor=clinician,
        patient_id=patient.pk,
        test_id=test.pk,
        lab_id=lab.pk,
        diagnoses=["E11.9"],
        priority="stat",
        answers={"FAST": "Yes"},
        password=PASSWORD,
    )
    data.update(kw)
    return services.order_sign(**data)


def ident(patient, **kw):
    patient.refresh_from_db()
    p = hl7wire.PatientIdent(
        mrn=patient.mrn,
        family=patient.family_name,
        given=patient.given_name,
        birth_date=patient.birth_date.strftime("%Y%m%d"),
        sex=patient.sex_at_birth,
    )
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def oru(
    patient_ident,
    *,
    placer="",
    filler="F1",
    status="F",
    rows=None,
    control_id=None,
    facility=None,
    loinc="51990-0",
):
    from django.conf import settings

    rows = rows or [
        hl7wire.ResultRow("2339-0", "Glucose", "450", "NM", "mg/dL", "70-99", "HH", status),
        hl7wire.ResultRow("6298-4", "Potassium", "4.1", "NM", "mmol/L", "3.5-5.1", "N", status),
    ]
    return hl7wire.build_oru(
        control_id=control_id or hl7wire.new_control_id(),
        patient=patient_ident,
        reports=[
            hl7wire.ReportData(
                placer, filler, loinc, "Basic metabolic panel", status, NOW, rows, "1234567893"
            )
        ],
        receiving_facility=facility or settings.HL7_FACILITY,
    )


def receive(raw):
    from orders.inbound import message_receive

    return hl7wire.ack_of(message_receive(raw, peer="test"))


@pytest.fixture
def order(clinician, patient, catalogue, lab, icd10):
    return sign(clinician, patient, catalogue["51990-0"], lab)


# ------------------------------------------------------------------ orders out
def test_orm_carries_the_order(order, patient, django_capture_on_commit_callbacks):
    from orders.models import OutboundMessage

    msg = OutboundMessage.objects.get(order=order)
    m = hl7wire.parse(bytes(msg.payload))
    assert hl7wire.header(m)["message_type"] == "ORM^O01"
    assert hl7wire.header(m)["control_id"] == msg.control_id
    assert hl7wire.header(m)["receiving_facility"] == "LABSIM"
    obr = m.segment("OBR")
    assert hl7wire.get(obr, "2.1") == order.placer_number and len(order.placer_number) == 12
    assert hl7wire.get(obr, "4.1") == "51990-0"
    assert hl7wire.get(obr, "27.6") == "S"  # STAT
    assert hl7wire.get(m.segment("DG1"), "3.1") == "E11.9"
    assert hl7wire.get(m.segment("OBX"), "5") == "Yes"  # the fasting question's answer
    assert hl7wire.patient_of(m).mrn == patient.mrn
    assert order.status == "queued"


def test_signing_refuses_bad_orders(clinician, nurse, patient, catalogue, lab, icd10):
    from core.exceptions import ActionDenied
    from orders.models import Order

    test = catalogue["51990-0"]
    with pytest.raises(ValidationError) as e:
        sign(clinician, patient, test, lab, answers={})
    assert "fasting" in str(e.value)
    with pytest.raises(ValidationError) as e:
        sign(clinician, patient, test, lab, diagnoses=["Z99.999"])
    assert "Not an ICD-10-CM code" in str(e.value)
    with pytest.raises(ValidationError) as e:
        sign(clinician, patient, test, lab, diagnoses=[])
    assert "at least one diagnosis" in str(e.value)
    with pytest.raises(ValidationError) as e:
        sign(clinician, patient, test, lab, password="wrong")
    assert "Password incorrect" in str(e.value)
    with pytest.raises(ValidationError):
        sign(clinician, patient, catalogue["57698-3"], lab, answers={"FAST": "lots"})
    with pytest.raises(ActionDenied):  # a nurse sees the chart but may not order
        sign(nurse, patient, test, lab)
    assert Order.objects.count() == 0


def test_order_for_a_merged_record_is_refused(clinician, patient, catalogue, lab, icd10):
    survivor = make_patient(given_name="Maria", family_name="Garcia-Lopez")
    patient.merged_into = survivor
    patient.save(update_fields=["merged_into"])
    with pytest.raises(ValidationError) as e:
        sign(clinician, patient, catalogue["51990-0"], lab)
    assert "merged" in str(e.value)


@pytest.fixture
def lab_alone(lab):
    sim = start_lab_sim(None)
    lab.host, lab.port = "127.0.0.1", sim.mllp_port
    lab.save(update_fields=["host", "port"])
    yield sim
    sim.stop()


def test_outbox_acks_naks_and_silence(transactional_db, order, lab_alone):
    from orders import outbox
    from orders.models import OutboundMessage

    msg = OutboundMessage.objects.get(order=order)
    lab_alone.mode(nak_rate=1.0, results=False)
    assert outbox.outbound_send(msg.pk) == "retry"  # AR: busy, send again
    msg.refresh_from_db()
    assert msg.status == "pending" and "refused it for now" in msg.last_error
    lab_alone.mode(nak_rate=0.0, silent_rate=1.0)
    assert outbox.outbound_send(msg.pk) == "retry"  # no answer at all
    lab_alone.mode(silent_rate=0.0)
    assert outbox.outbound_send(msg.pk) == "acknowledged"
    assert outbox.outbound_send(msg.pk) == "skipped"  # never twice
    order.refresh_from_db()
    assert order.status == "sent"
    stats = lab_alone.stats()
    # The same control id every time: the lab counts one order
    assert stats["unique_received"] == 1 and stats["placer_numbers"] == [order.placer_number]


def test_lab_error_needs_attention(transactional_db, clinician, catalogue, lab_alone, lab, icd10, department):
    from orders import outbox
    from orders.models import OutboundMessage
    from patients.services import care_team_grant

    p = make_patient(family_name="Errorson", department=department)
    care_team_grant(patient=p, user=clinician, care_role="PCP")
    order = sign(clinician, p, catalogue["51990-0"], lab)
    lab_alone.mode(error_for=["Errorson"], results=False)
    msg = OutboundMessage.objects.get(order=order)
    assert outbox.outbound_send(msg.pk) == "rejected"
    order.refresh_from_db()
    assert order.status == "needs_attention" and "date of birth missing" in order.status_reason


def test_outbox_gives_up_when_the_lab_is_down(transactional_db, order, lab, settings):
    from orders import outbox
    from orders.models import OutboundMessage

    lab.host, lab.port = "127.0.0.1", 9  # nothing listens there
    lab.save()
    msg = OutboundMessage.objects.get(order=order)
    msg.attempts = outbox.MAX_ATTEMPTS - 1
    msg.save()
    assert outbox.outbound_send(msg.pk) == "rejected"
    order.refresh_from_db()
    assert order.status == "needs_attention" and "gave up" in order.status_reason


# ------------------------------------------------------------------ results in
def test_result_matched_by_placer_number_is_filed_with_its_message(order, patient, clinician):
    from encounters.models import Observation
    from orders import signals
    from orders.models import InboundMessage, ResultReport

    seen = []
    signals.result_filed.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="t1")
    try:
        raw = oru(ident(patient), placer=order.placer_number)
        from django.test.utils import CaptureQueriesContext  # noqa: F401

        code, control_id, _ = receive(raw)
    finally:
        signals.result_filed.disconnect(dispatch_uid="t1")
    assert code == "AA" and control_id == hl7wire.header(hl7wire.parse(raw))["control_id"]
    report = ResultReport.objects.get()
    assert report.order == order and report.is_critical and report.ordering_clinician == clinician
    assert bytes(report.message.raw) == raw  # the raw message kept byte for byte
    assert report.message.status == "filed"
    glucose = Observation.objects.get(report_id=report.pk, loinc_code="2339-0")
    assert glucose.value_quantity == 450 and glucose.interpretation == "HH" and glucose.reference_high == 99
    order.refresh_from_db()
    assert order.status == "final" and order.filler_number == "F1"
    assert InboundMessage.objects.count() == 1


def test_preliminary_then_final_then_corrected_supersede_visibly(order, patient, login, clinician):
    from django.urls import reverse

    from encounters.models import Observation
    from orders.models import ResultReport

    assert receive(oru(ident(patient), placer=order.placer_number, status="P"))[0] == "AA"
    assert receive(oru(ident(patient), placer=order.placer_number, status="F"))[0] == "AA"
    corrected_rows = [hl7wire.ResultRow("2339-0", "Glucose", "145", "NM", "mg/dL", "70-99", "H", "C")]
    assert (
        receive(oru(ident(patient), placer=order.placer_number, status="C", rows=corrected_rows))[0] == "AA"
    )
    reports = list(ResultReport.objects.order_by("filed_at"))
    assert [r.status for r in reports] == ["preliminary", "final", "corrected"]
    assert reports[0].superseded_by == reports[1] and reports[1].superseded_by == reports[2]
    current = Observation.objects.filter(loinc_code="2339-0", superseded_by__isnull=True)
    assert [o.value_quantity for o in current] == [145]
    assert Observation.objects.filter(loinc_code="2339-0").count() == 3  # nothing erased
    order.refresh_from_db()
    assert order.status == "corrected"
    page = login(clinician).get(reverse("encounters:results", args=[patient.pk])).content.decode()
    assert page.count('data-testid="result-superseded"') == 3  # 2 glucose, 1 potassium replaced
    assert "replaced by a newer result" in page


def test_duplicate_control_ids(order, patient):
    from encounters.models import Observation
    from orders.models import InboundMessage

    raw = oru(ident(patient), placer=order.placer_number, control_id="SAME1")
    assert receive(raw)[0] == "AA"
    assert receive(raw)[0] == "AA"  # the lab never got our ACK and sent it again
    assert Observation.objects.count() == 2  # filed once
    other = oru(ident(patient), placer=order.placer_number, control_id="SAME1", filler="F2")
    code, _, text = receive(other)
    assert code == "AR" and "already used by a different message" in text
    statuses = sorted(InboundMessage.objects.values_list("status", flat=True))
    assert statuses == ["duplicate", "filed", "rejected"]
    assert Observation.objects.count() == 2


def test_unknown_patient_goes_to_the_unmatched_queue_and_staff_attach_it(patient, clinician, nurse):
    from encounters.models import Observation
    from orders import signals
    from orders.inbound import unmatched_attach
    from orders.models import InboundMessage

    seen = []
    signals.unmatched_result_received.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="t2")
    try:
        with pytest.MonkeyPatch.context():
            pass
        code, _, text = receive(oru(ident(patient, mrn="ZZ999", family="Garsia")))
    finally:
        signals.unmatched_result_received.disconnect(dispatch_uid="t2")
    assert code == "AA" and "matching by staff" in text
    msg = InboundMessage.objects.get()
    assert msg.status == "unmatched" and "no patient with MRN ZZ999" in msg.outcome
    assert msg.candidates and msg.candidates[0]["patient_id"] == str(patient.pk)  # the scorer's suggestion
    assert not Observation.objects.exists()  # never a guessed chart
    unmatched_attach(actor=nurse, message_id=msg.pk, patient_id=patient.pk)
    msg.refresh_from_db()
    assert msg.status == "attached" and msg.resolved_by == nurse
    assert Observation.objects.filter(patient=patient).count() == 2


def test_on_commit_signal_for_unmatched(patient, django_capture_on_commit_callbacks):
    from orders import signals

    seen = []
    signals.unmatched_result_received.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="t3")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            receive(oru(ident(patient, mrn="NOPE1")))
    finally:
        signals.unmatched_result_received.disconnect(dispatch_uid="t3")
    assert len(seen) == 1 and seen[0]["message"].status == "unmatched"


def test_mrn_with_wrong_birth_date_is_not_filed(patient):
    from orders.models import InboundMessage

    receive(oru(ident(patient, birth_date="19990101")))
    msg = InboundMessage.objects.get()
    assert msg.status == "unmatched" and "does not match the name and date of birth" in msg.outcome


def test_unsolicited_result_for_a_known_patient_is_filed_to_the_npi(patient, clinician):
    from orders.models import ResultReport

    assert receive(oru(ident(patient), placer="", filler="LS77"))[0] == "AA"
    report = ResultReport.objects.get()
    assert report.order is None and report.patient == patient and report.ordering_clinician == clinician


def test_order_of_another_patient_is_not_trusted(order, patient, other_patient):
    from orders.models import InboundMessage

    receive(oru(ident(other_patient), placer=order.placer_number))
    msg = InboundMessage.objects.get()
    assert msg.status == "unmatched" and "for another patient" in msg.outcome


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "mangle, code, words",
    [
        (lambda raw: b"HELLO" + raw, "AR", "does not start with an MSH"),
        (
            lambda raw: raw.replace(b"|", b"#").replace(b"MSH#^~\\&", b"MSH#^~\\&"),
            "AR",
            "unexpected separators",
        ),
        (
            lambda raw: b"\r".join(s for s in raw.split(b"\r") if not s.startswith(b"OBX")),
            "AE",
            "missing OBX",
        ),
        (
            lambda raw: b"\r".join(s for s in raw.split(b"\r") if not s.startswith(b"PID")),
            "AE",
            "missing PID",
        ),
        (lambda raw: raw.replace(b"Glucose", b"Gluc\xe9se"), "AE", "not valid UTF-8"),
        (lambda raw: raw.replace(b"450", b"4" * 2_100_000), "AR", "too large"),
    ],
    ids=["no-msh", "separators", "no-obx", "no-pid", "encoding", "2mb-obx"],
)
def test_malformed_messages_are_kept_and_refused(order, patient, mangle, code, words):
    from encounters.models import Observation
    from orders.models import InboundMessage

    raw = mangle(oru(ident(patient), placer=order.placer_number))
    got, _, text = receive(raw)
    assert got == code and words in text
    msg = InboundMessage.objects.get()
    assert msg.status == "rejected" and words in msg.outcome
    assert bytes(msg.raw) == raw  # kept as received
    assert not Observation.objects.exists()


def test_crlf_segments_are_read(order, patient):
    raw = oru(ident(patient), placer=order.placer_number).replace(b"\r", b"\r\n")
    assert receive(raw)[0] == "AA"


def test_latin1_declared_is_read(order, patient):
    raw = oru(ident(patient, family=patient.family_name), placer=order.placer_number)
    raw = raw.replace(b"UNICODE UTF-8", b"8859/1").replace(b"Glucose", b"Gluc\xe9se")
    assert receive(raw)[0] == "AA"


def test_result_for_another_clinic_is_refused(order, patient):
    from orders.models import InboundMessage

    code, _, text = receive(oru(ident(patient), placer=order.placer_number, facility="OTHER-CLINIC"))
    assert code == "AR" and "not this clinic" in text
    assert InboundMessage.objects.get().status == "rejected"


def test_unknown_result_status_is_refused(order, patient):
    rows = [hl7wire.ResultRow("2339-0", "Glucose", "90", "NM", "mg/dL", "70-99", "N", "X")]
    code, _, text = receive(oru(ident(patient), placer=order.placer_number, status="X", rows=rows))
    assert code == "AE" and "not one we file" in text


# ------------------------------------------------------------------ the wire, end to end
@pytest.mark.worker
def test_lab_simulator_answers_through_the_listener(transactional_db, order, lab_sim, celery_worker_proc):
    from orders import outbox  # noqa: I001
    from orders.models import ResultReport
    from tests.conftest import wait_until

    outbox.outbound_requeue_stuck(older_than_seconds=0)
    wait_until(lambda: ResultReport.objects.filter(order=order, status="final").exists(), timeout=40)
    reports = list(ResultReport.objects.filter(order=order).order_by("filed_at"))
    assert [r.status for r in reports] == ["preliminary", "final"]
    assert reports[0].superseded_by == reports[1]
    corrected = lab_sim.send("correction", {"placer_number": order.placer_number, "value": "77"})
    assert corrected["control_id"]
    wait_until(lambda: ResultReport.objects.filter(order=order, status="corrected").exists(), timeout=20)


def test_a_preliminary_arriving_after_the_final_does_not_replace_it(order, patient):
    from encounters.models import Observation
    from orders.models import ResultReport

    assert receive(oru(ident(patient), placer=order.placer_number, status="F"))[0] == "AA"
    late = [hl7wire.ResultRow("2339-0", "Glucose", "300", "NM", "mg/dL", "70-99", "H", "P")]
    assert receive(oru(ident(patient), placer=order.placer_number, status="P", rows=late))[0] == "AA"
    final = ResultReport.objects.get(status="final")
    prelim = ResultReport.objects.get(status="preliminary")
    assert final.superseded_by is None and prelim.superseded_by == final
    current = Observation.objects.get(loinc_code="2339-0", superseded_by__isnull=True)
    assert current.value_quantity == 450 and current.report_id == final.pk
    order.refresh_from_db()
    assert order.status == "final"
