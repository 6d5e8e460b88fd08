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


def on_result_filed(
    sender,
    *,
    order,
    results,
    patient,
    is_critical: bool = False,
    is_abnormal: bool = False,
    **kwargs,
) -> None:
    """Results filed against an order: one item per filing for the ordering clinician. The key is the order and
    the results filed, so the same filing signalled again is the same item; a corrected result is a new filing."""
    clinician = (
        kwargs.get("ordering_clinician")
        or kwargs.get("clinician")
        or getattr(order, "ordering_clinician", None)
    )
    results = list(results)
    ref = f"order:{order.pk}:" + ",".join(sorted(str(getattr(r, "pk", r)) for r in results))
    sources.result_post(
        source_ref=ref[:200],
        patient=patient,
        clinician=clinician,
        title=f"{order}"[:300],
        is_critical=is_critical,
        is_abnormal=is_abnormal,
        detail="\n".join(str(r) for r in results)[:4000],
        link_url=_link(order),
    )


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
