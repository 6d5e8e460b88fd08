"""Filing one result group (an ORU's OBR with its OBX rows) to a chart, shared by the inbound listener and the
unmatched queue: values into encounters.Observation, the report that links them to their order and message, the
order's status, a correction superseding the earlier report, and the signal after commit."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from encounters.results import ResultValue, results_file, results_supersede

from . import hl7wire, signals
from .models import Order, OrderStatus, ReportStatus, ResultReport

_STATUS = {
    hl7wire.STATUS_PRELIMINARY: ReportStatus.PRELIMINARY,
    hl7wire.STATUS_FINAL: ReportStatus.FINAL,
    hl7wire.STATUS_CORRECTED: ReportStatus.CORRECTED,
}
_OBS_STATUS = {"P": "preliminary", "F": "final", "C": "corrected"}
_ORDER_STATUS = {
    ReportStatus.PRELIMINARY: OrderStatus.PRELIMINARY,
    ReportStatus.FINAL: OrderStatus.FINAL,
    ReportStatus.CORRECTED: OrderStatus.CORRECTED,
}
_RANK = {ReportStatus.PRELIMINARY: 0, ReportStatus.FINAL: 1, ReportStatus.CORRECTED: 2}
_RANGE = re.compile(r"^\s*(-?[\d.]+)?\s*-\s*(-?[\d.]+)?\s*$")
_FLAGS = {"HH": "HH", "LL": "LL", "H": "H", "L": "L", "N": "N", "A": "A", "AA": "HH", "POS": "A"}


def range_flag(value: Decimal, low, high, critical_low=None, critical_high=None) -> str:
    if critical_high is not None and value >= Decimal(str(critical_high)):
        return "HH"
    if critical_low is not None and value <= Decimal(str(critical_low)):
        return "LL"
    if high is not None and value > Decimal(str(high)):
        return "H"
    if low is not None and value < Decimal(str(low)):
        return "L"
    return "N"


def _decimal(text: str) -> Decimal | None:
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    return d if d.is_finite() and abs(d) < Decimal("1e9") else None


def value_of(row: hl7wire.ResultRow, report_status: str) -> ResultValue:
    number = _decimal(row.value) if row.value_type in ("NM", "SN", "") else None
    low = high = None
    m = _RANGE.match(row.reference_range or "")
    if m:
        low, high = (
            (_decimal(m.group(1)) if m.group(1) else None),
            (_decimal(m.group(2)) if m.group(2) else None),
        )
        if low is not None and high is not None and high < low:
            low = high = None
    return ResultValue(
        loinc=row.loinc or row.name[:20],
        display=row.name or row.loinc,
        value_quantity=number,
        value_text="" if number is not None else row.value,
        unit=row.unit,
        reference_low=low,
        reference_high=high,
        interpretation=_FLAGS.get(row.flag.upper(), ""),
        status=_OBS_STATUS.get(row.status or report_status, "final"),
    )


class NotFileable(Exception):
    """The report cannot be filed as sent (a status we do not take, a value the chart cannot hold as sent): the
    message is refused with this reason."""


def _values_file(report, patient, data, values, earlier_ids) -> None:
    """The report's values into the chart; a value the chart cannot hold as sent is refused with the reason, never
    altered."""
    try:
        results_file(
            patient=patient,
            report_id=report.pk,
            effective=data.observed_at,
            values=values,
            supersede_report_ids=earlier_ids,
        )
    except ValidationError as exc:
        words = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        raise NotFileable(f"{report.test_name}: a value cannot be stored as sent ({words})") from exc


def report_file(
    *, message, patient, order: Order | None, data: hl7wire.ReportData, clinician
) -> ResultReport:
    """File one report inside the caller's transaction; the signal goes after commit."""
    status = _STATUS.get(data.status or hl7wire.STATUS_FINAL)
    if status is None:
        raise NotFileable(f"result status {data.status!r} is not one we file (P, F or C)")
    if not data.rows:
        raise NotFileable(f"the result for {data.test_name or data.loinc} has no OBX values")
    values = [value_of(r, data.status) for r in data.rows]
    # The reports this one replaces: the same order's (or filler number's) earlier current report.
    earlier = ResultReport.objects.select_for_update().filter(
        patient=patient, loinc=data.loinc or values[0].loinc, superseded_by__isnull=True
    )
    if order is not None:
        earlier = earlier.filter(order=order)
    elif data.filler_number:
        earlier = earlier.filter(filler_number=data.filler_number)
    else:
        earlier = earlier.none()
    earlier_rows = list(earlier.values_list("pk", "status"))
    newer = [pk for pk, st in earlier_rows if _RANK[st] > _RANK[status]]
    if newer:
        # Arrived after a later result (a preliminary re-sent after the final): kept, replaced at once.
        return _file_late(message, patient, order, data, clinician, status, values, newer[0])
    earlier_ids = [pk for pk, _ in earlier_rows]
    report = ResultReport.objects.create(
        patient=patient,
        order=order,
        message=message,
        ordering_clinician=clinician,
        loinc=(data.loinc or values[0].loinc)[:20],
        test_name=(data.test_name or values[0].display)[:200],
        filler_number=data.filler_number[:40],
        status=status,
        is_critical=any(v.interpretation in ("HH", "LL") for v in values),
        is_abnormal=any(v.interpretation not in ("", "N") for v in values),
        observed_at=data.observed_at,
    )
    _values_file(report, patient, data, values, earlier_ids)
    if earlier_ids:
        ResultReport.objects.filter(pk__in=earlier_ids).update(superseded_by=report)
    if order is not None:
        _order_resulted(order, status, data.filler_number)
    announce(report)
    return report


def _order_resulted(order: Order, status: str, filler_number: str) -> None:
    """The order's status follows its newest result, except a cancelled order: it stays cancelled, flagged."""
    if order.status == OrderStatus.CANCELLED:
        note = "a result arrived after it was cancelled and was filed"
        if note not in order.status_reason:
            order.status_reason = f"{order.status_reason}; {note}"[-500:].lstrip("; ")
    else:
        order.status = _ORDER_STATUS[status]
        order.status_reason = ""
    order.filler_number = filler_number[:40] or order.filler_number
    order.save(update_fields=["status", "filler_number", "status_reason", "updated_at"])


def _file_late(message, patient, order, data, clinician, status, values, current_id) -> ResultReport:
    report = ResultReport.objects.create(
        patient=patient,
        order=order,
        message=message,
        ordering_clinician=clinician,
        loinc=(data.loinc or values[0].loinc)[:20],
        test_name=(data.test_name or values[0].display)[:200],
        filler_number=data.filler_number[:40],
        status=status,
        is_critical=any(v.interpretation in ("HH", "LL") for v in values),
        is_abnormal=any(v.interpretation not in ("", "N") for v in values),
        observed_at=data.observed_at,
        superseded_by_id=current_id,
    )
    rows = results_file(patient=patient, report_id=report.pk, effective=data.observed_at, values=values)
    results_supersede(rows, by_report_id=current_id)
    return report


def announce(report: ResultReport) -> None:
    def send():
        signals.result_filed.send(
            sender=ResultReport,
            report=report,
            order=report.order,
            patient=report.patient,
            ordering_clinician=report.ordering_clinician,
            is_critical=report.is_critical,
            is_abnormal=report.is_abnormal,
        )

    transaction.on_commit(send)
