"""Reads for orders and results. Patient-level reads go through the door (patient_get) in the views or here;
lists are cut to the patients the user may see (visible_patients) and record one list event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from core.links import pk_url
from encounters.models import Observation
from patients.selectors import patient_get, visible_patients

from .models import InboundMessage, InboundStatus, LabTest, Order, PerformingLab, ResultReport, TestKind


def as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# ------------------------------------------------------------------ catalogue
def tests_search(*, q: str = "", kinds=(TestKind.LAB, TestKind.IMAGING), limit: int = 30) -> list[LabTest]:
    qs = LabTest.objects.filter(active=True, kind__in=kinds)
    q = (q or "").strip()[:60]
    if q:
        qs = qs.filter(name__icontains=q) | qs.filter(loinc__startswith=q)
    return list(qs.order_by("kind", "name")[:limit])


def test_get(test_id, *, kinds=(TestKind.LAB, TestKind.IMAGING)) -> LabTest | None:
    try:
        pk = int(str(test_id))
    except (TypeError, ValueError):
        return None
    if not 0 < pk < 2**31:
        return None
    return LabTest.objects.filter(pk=pk, active=True, kind__in=kinds).first()


def labs_active() -> list[PerformingLab]:
    return list(PerformingLab.objects.filter(active=True).order_by("name"))


# ------------------------------------------------------------------ orders
def orders_for_patient(*, patient, limit: int = 200) -> list[Order]:
    return list(
        Order.objects.filter(patient=patient)
        .select_related("test", "lab", "ordering_clinician")
        .order_by("-created_at")[:limit]
    )


def order_get(*, actor, order_id, perm: str = roles.VIEW_CLINICAL, request=None, action=Action.VIEW) -> Order:
    """The order, if the actor holds `perm` on its patient (the door records the access); else Http404."""
    pk = as_uuid(order_id)
    order = (
        Order.objects.select_related("test", "lab", "ordering_clinician__practitioner", "patient")
        .filter(pk=pk)
        .first()
        if pk
        else None
    )
    if order is None:
        raise Http404("No such order")
    order.patient = patient_get(
        actor=actor,
        patient_id=order.patient_id,
        perm=perm,
        category=categories.LAB_ORDER,
        request=request,
        action=action,
    )
    return order


def order_reports(order: Order) -> list[ResultReport]:
    return list(order.reports.order_by("-filed_at"))


# ------------------------------------------------------------------ reports
@dataclass
class ReportView:
    report: ResultReport
    values: list[Observation]


def report_get(*, actor, report_id, request=None) -> ReportView:
    pk = as_uuid(report_id)
    report = (
        ResultReport.objects.select_related("order__test", "ordering_clinician", "reviewed_by", "message")
        .filter(pk=pk)
        .first()
        if pk
        else None
    )
    if report is None:
        raise Http404("No such result")
    report.patient = patient_get(
        actor=actor,
        patient_id=report.patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.RESULTS,
        request=request,
    )
    values = list(Observation.objects.filter(report_id=report.pk).order_by("display"))
    return ReportView(report, values)


def results_to_review(*, actor, request=None, limit: int = 200) -> list[ResultReport]:
    """The ordering clinician's results not yet signed off: critical first, then abnormal, newest first. Only
    patients the user may still see; one list event names them. Two queries whatever the count."""
    rows = list(
        ResultReport.objects.filter(
            ordering_clinician=actor,
            reviewed_at__isnull=True,
            superseded_by__isnull=True,
            patient__in=visible_patients(actor, roles.VIEW_CLINICAL),
        )
        .select_related("patient", "order")
        .order_by("-is_critical", "-is_abnormal", "-filed_at")[:limit]
    )
    for r in rows:
        r.url = pk_url("orders:report", r.pk)  # type: ignore[attr-defined]
    access_record(
        actor=actor,
        action=Action.LIST,
        category=categories.RESULTS,
        patient_ids=sorted({str(r.patient_id) for r in rows}),
        request=request,
        detail={"list": "results to review", "count": len(rows)},
    )
    return rows


def review_count(*, actor) -> int:
    return ResultReport.objects.filter(
        ordering_clinician=actor, reviewed_at__isnull=True, superseded_by__isnull=True
    ).count()


# ------------------------------------------------------------------ the unmatched queue
def unmatched_queue(*, limit: int = 200) -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(status=InboundStatus.UNMATCHED).order_by("-received_at")[:limit]


def unmatched_get(*, message_id) -> InboundMessage:
    pk = as_uuid(message_id)
    msg = InboundMessage.objects.filter(pk=pk).first() if pk else None
    if msg is None:
        raise Http404("No such message")
    return msg


def candidates_shown(*, actor, msg: InboundMessage) -> list[dict]:
    """The scorer's candidates: in full for patients the user may see, otherwise only that one exists."""
    ids = [c.get("patient_id") for c in msg.candidates]
    visible = {str(p.pk): p for p in visible_patients(actor, roles.VIEW_DEMOGRAPHICS).filter(pk__in=ids)}
    return [
        {"patient": visible.get(c["patient_id"]), "score": c.get("score"), "reasons": c.get("reasons", [])}
        for c in msg.candidates
    ]


def chart_orders(*, actor, patient, request) -> dict | None:
    """The chart's orders card: links only (no query), so the chart's query count does not change."""
    access = getattr(patient, "access", None)
    if access is None or not access.clinical:
        return None
    return {
        "template": "orders/_chart_orders.html",
        "title": "Orders",
        "aside": True,
        "nav_url": pk_url("orders:patient_orders", patient.pk),
        "can_order": access.can_prescribe,
        "can_document": access.can_document,
        "new_url": pk_url("orders:new", patient.pk),
        "in_office_url": pk_url("orders:in_office", patient.pk),
        "results_url": pk_url("encounters:results", patient.pk),
    }


def problems_for_order(*, patient, limit: int = 30) -> list:
    """The patient's active coded problems, offered as an order's diagnoses (`patient` came through the door)."""
    from encounters.models import Problem, ProblemStatus

    return list(
        Problem.objects.filter(patient=patient, status=ProblemStatus.ACTIVE, code__isnull=False)
        .select_related("code")
        .order_by("description")[:limit]
    )


def order_messages(order: Order) -> list:
    """The HL7 messages sent for an order (already fetched through the door), oldest first."""
    return list(order.messages.order_by("created_at"))


def patient_id_by_mrn(mrn: str):
    """The id of the patient with this MRN, or None. Attaching a result then goes through the door
    (inbound.unmatched_attach checks the user may write to that chart)."""
    from patients.models import Patient

    return Patient.objects.filter(mrn=mrn).values_list("pk", flat=True).first() if mrn else None
