"""The demo's orders and results: every state a clinic sees. Pending orders (queued, received by the lab), final
results, a corrected one superseding its final, a critical result waiting for dr.house, and a message that matched
no patient. Results come in as real HL7 ORU^R01 messages through the same inbound path as the listener's, so each
keeps its raw message."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import catalog, hl7wire, inbound
from .models import LabTest, Order, OrderStatus, OutboundMessage, OutboundStatus
from .services import _orm_payload, placer_number_new


def _order(patient, clinician, test, lab, *, status, when, priority="routine") -> Order:
    order = Order.objects.create(
        patient=patient,
        test=test,
        ordering_clinician=clinician,
        lab=lab,
        diagnoses=[{"code": "E11.9", "description": "Type 2 diabetes mellitus without complications"}],
        priority=priority,
        answers=[
            {"code": q["code"], "text": q["text"], "answer": "Yes"}
            for q in test.questions
            if q["kind"] == "yesno"
        ],
        placer_number=placer_number_new(),
        status=status,
        signed_at=when,
    )
    cid = hl7wire.new_control_id()
    OutboundMessage.objects.create(
        order=order,
        patient=patient,
        lab=lab,
        control_id=cid,
        payload=_orm_payload(order, cid),
        status=OutboundStatus.ACKNOWLEDGED,
        attempts=1,
        last_answer="AA",
        next_attempt_at=when,
    )
    return order


def _ident(p) -> hl7wire.PatientIdent:
    return hl7wire.PatientIdent(
        mrn=p.mrn,
        family=p.family_name,
        given=p.given_name,
        birth_date=p.birth_date.strftime("%Y%m%d"),
        sex=p.sex_at_birth if p.sex_at_birth in ("F", "M") else "U",
    )


def _result(patient, order, test, *, status, when, values, filler, npi="") -> None:
    rows = []
    for c, v in zip(test.components, values, strict=False):
        flag = "N"
        if c.get("critical_high") is not None and v >= c["critical_high"]:
            flag = "HH"
        elif c.get("high") is not None and v > c["high"]:
            flag = "H"
        elif c.get("low") is not None and v < c["low"]:
            flag = "L"
        rows.append(
            hl7wire.ResultRow(
                c["loinc"], c["name"], str(v), "NM", c["unit"], f"{c['low']}-{c['high']}", flag, status
            )
        )
    raw = hl7wire.build_oru(
        control_id=hl7wire.new_control_id(),
        patient=_ident(patient),
        reports=[
            hl7wire.ReportData(
                order.placer_number if order else "",
                filler,
                test.loinc,
                test.name,
                status,
                when,
                rows,
                npi,
            )
        ],
        receiving_facility=settings.HL7_FACILITY,
    )
    inbound.message_receive(raw, peer="demo")


def demo_build(*, patients, providers, front_desk, rng) -> None:
    catalog.catalog_load()
    lab = catalog.lab_ensure(name="Simulated Reference Lab", facility="LABSIM", application="LABSIM")
    catalog.lab_ensure(
        name="Springfield Imaging (paper requisitions)", facility="SPRINGIMG", application="SPRINGIMG"
    )
    house = next((u for u in providers if u.get_username() == "dr.house"), providers[0])
    mine = [patients[i % len(patients)] for i in range(13)]  # a small demo has fewer patients: some repeat
    tests = {t.loinc: t for t in LabTest.objects.all()}
    now = timezone.now()
    a1c, bmp, lipid, tsh = tests["4548-4"], tests["51990-0"], tests["57698-3"], tests["3016-3"]
    # A history of HbA1c results for a trend, and pending orders.
    for i, p in enumerate(mine[:6]):
        for k, value in enumerate((8.1, 7.6, 7.2, 6.9)):
            when = now - timedelta(days=360 - 90 * k + i)
            o = _order(p, house, a1c, lab, status=OrderStatus.SENT, when=when)
            _result(
                p,
                o,
                a1c,
                status="F",
                when=when + timedelta(hours=4),
                values=[value + i * 0.1],
                filler=f"D{i}{k}",
            )
    for p in mine[6:10]:
        _order(p, house, lipid, lab, status=OrderStatus.SENT, when=now - timedelta(hours=rng.randint(2, 40)))
    _order(mine[10], house, tsh, lab, status=OrderStatus.QUEUED, when=now - timedelta(minutes=5))
    # A final result, then its correction (the final stays, struck out).
    o = _order(mine[11], house, bmp, lab, status=OrderStatus.SENT, when=now - timedelta(days=2))
    _result(
        mine[11],
        o,
        bmp,
        status="F",
        when=now - timedelta(days=2),
        values=[182, 139, 4.2, 101, 25, 14, 0.9, 9.4],
        filler="DCOR1",
    )
    _result(mine[11], o, bmp, status="C", when=now - timedelta(days=2), values=[128], filler="DCOR1")
    # A critical potassium waiting for dr.house.
    o = _order(
        mine[12], house, bmp, lab, status=OrderStatus.SENT, when=now - timedelta(hours=3), priority="stat"
    )
    _result(
        mine[12],
        o,
        bmp,
        status="F",
        when=now - timedelta(hours=1),
        values=[96, 137, 6.8, 100, 24, 18, 1.1, 9.1],
        filler="DCRIT1",
    )
    # A message for a patient nobody here knows.
    stranger = hl7wire.PatientIdent("LAB-55512", "Nguyen", "Thi", "19620418", "F", "LABSIM")
    raw = hl7wire.build_oru(
        control_id=hl7wire.new_control_id(),
        patient=stranger,
        reports=[
            hl7wire.ReportData(
                "",
                "DUNM1",
                tsh.loinc,
                tsh.name,
                "F",
                now - timedelta(hours=6),
                [hl7wire.ResultRow("3016-3", "TSH", "2.1", "NM", "m[IU]/L", "0.4-4.0", "N", "F")],
            )
        ],
        receiving_facility=settings.HL7_FACILITY,
    )
    inbound.message_receive(raw, peer="demo")
