"""Signals from the apps below the inbox, turned into items (connected in apps.py).

- prescriptions.signals.pharmacy_request_received / _answered: a renewal or change request arrives / is answered.
- orders.signals.result_filed / unmatched_result_received (the orders app, issue 20): connected when that app is
  installed. Each receiver is idempotent (inbox/sources.py): a signal sent twice makes one item.
"""

from __future__ import annotations

from . import sources


def on_pharmacy_request_received(sender, *, item, **_kwargs) -> None:
    sources.pharmacy_request_post(item)


def on_pharmacy_request_answered(sender, *, item, actor=None, **_kwargs) -> None:
    sources.pharmacy_request_close(item, actor=actor)


def _link(obj) -> str:
    get_url = getattr(obj, "get_absolute_url", None)
    return get_url() if callable(get_url) else ""


def report_ref(report) -> str:
    """The inbox's name for a filed result report (orders.ResultReport): one item per report."""
    return f"report:{report.pk}"


def on_result_filed(
    sender, *, report, patient, ordering_clinician=None, is_critical=False, is_abnormal=False, **_kwargs
) -> None:
    """A result report filed to a chart (orders.signals.result_filed): one item for the ordering clinician,
    critical and abnormal first. A corrected report is a new report, so a new item; the same report signalled
    again is the same item. A result nobody ordered (in-office, unsolicited) with no clinician goes nowhere
    here: it is on the chart and in the orders' review list."""
    if ordering_clinician is None:
        return
    sources.result_post(
        source_ref=report_ref(report),
        patient=patient,
        clinician=ordering_clinician,
        title=str(getattr(report, "test_name", "") or report)[:300],
        is_critical=is_critical,
        is_abnormal=is_abnormal,
        link_name="orders:report",
        link_args=[str(report.pk)],
    )


def on_result_reviewed(sender, *, report, actor=None, comment="", **_kwargs) -> None:
    """Signed off on the result's own page (orders): its inbox item is done too."""
    from .models import Kind

    for kind in (Kind.RESULT, Kind.CRITICAL_RESULT):
        sources.close_item(kind=kind, source_ref=report_ref(report), actor=actor, note=comment or "")


def on_unmatched_result_received(sender, *, message=None, **kwargs) -> None:
    """A result message that matched no order and no chart: to the results team's queue."""
    ref = kwargs.get("source_ref") or getattr(message, "pk", None) or kwargs.get("control_id")
    sources.unmatched_result_post(
        source_ref=str(ref),
        title=str(kwargs.get("title") or f"Unmatched result {ref}")[:300],
        detail=str(kwargs.get("detail") or ""),
        link_url=_link(message) if message is not None else "",
        team=kwargs.get("team"),
    )
