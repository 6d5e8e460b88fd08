"""Reads of the audit trail for the privacy officer's reports (ASTM E2147 §7: disclosure and access reports).

Who may call: views and commands acting for a user with `audit.view_reports` (the privacy officer). Every report
that is shown or exported records its own access event (category AUDIT_REPORT): reading the audit is audited.

Why this module reads `Patient` directly, outside patients/selectors.py (through audit/subjects.py's registry, so
that audit never imports patients): the privacy officer holds no object
permission on any patient (accounts/roles.py: "never opens charts"), yet an investigation needs to know *which*
patient an event names. The reports therefore show the MRN and the name only — never demographics, identifiers or
clinical data — and the look-up is limited to those three columns (`_patient_labels`). This is the one
documented exception to the one-door rule; the event for the report names the patient(s) shown.

Query shape (kept fast at 10M+ events; see docs and migrations/0002):
- per patient: `patient_id = X` uses audit_ev_patient_time (patient_id, occurred_at); list events that name the
  patient among many use `patient_ids @> ARRAY[X]` through the GIN index audit_ev_patient_ids. Postgres combines
  both with a BitmapOr, and monthly partitions outside [start, end) are pruned.
- per user: `actor_id = U AND occurred_at in range` uses audit_ev_actor_time (actor_id, occurred_at).
- break the glass: a partial index on occurred_at WHERE break_glass OR action = 'break_glass' (migration 0002).
Pages are fetched with LIMIT n+1 (no COUNT over millions of rows) up to MAX_PAGE (OFFSET stays bounded: past
that, narrow the dates or export the CSV, which streams with a server-side cursor); sorts come from a whitelist.
The patient sort of a row naming several patients (a list event) is by the first patient it names, the one shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import categories
from .labels import system_label
from .models import AccessEvent, Action
from .services import access_record
from .subjects import subject_model

REPORT_PERM = "audit.view_reports"
PER_PAGE = 50
MAX_PAGE = 200  # 10,000 rows by page; the CSV export has no limit
MAX_RANGE_DAYS = 3660  # ten years: a range is always bounded so partitions are pruned

# Public sort key -> ORM ordering. Only these reach order_by() (no user-controlled field names).
SORT_KEYS: dict[str, str] = {
    "time": "occurred_at",
    "user": "actor_username",
    "action": "action",
    "category": "category",
    "outcome": "outcome",
    "patient": "patient_mrn",
    "ip": "source_ip",
    "channel": "channel",
    "break_glass": "break_glass",
    "reason": "reason",
}
DEFAULT_SORT = "-time"


@dataclass
class EventRow:
    """One line of a report: the stored event plus the MRN and name of the patient it names (if any)."""

    event: AccessEvent
    patient_mrn: str = ""
    patient_name: str = ""
    others: int = 0  # further patients named by a list event

    @property
    def reason(self) -> str:
        return str((self.event.detail or {}).get("reason", ""))

    @property
    def who(self) -> str:
        """The user's username, or what a background job is called (never "system" as if it were a user)."""
        ev = self.event
        if ev.actor_id is not None:
            return ev.actor_username
        return system_label(channel=ev.channel, task=(ev.detail or {}).get("task"))


@dataclass
class AuditReport:
    rows: list[EventRow]
    sort: str
    page: int
    more: bool
    start: date
    end: date
    subject: dict = field(default_factory=dict)
    asof: int = 0  # newest event id when page 1 was read: later pages do not shift as new events arrive


def _require_reports(actor) -> None:
    if not (
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.is_active
        and actor.has_perm(REPORT_PERM)
    ):
        raise PermissionDenied


def normalise_sort(sort: str | None) -> str:
    """A whitelisted sort key with an optional leading '-', else the default (newest first)."""
    sort = (sort or "").strip()
    return sort if sort.lstrip("-") in SORT_KEYS else DEFAULT_SORT


def date_range(start: date | None, end: date | None) -> tuple[date, date]:
    """Inclusive calendar dates (clinic time zone). Defaults to the last 30 days; never longer than ten years."""
    today = timezone.localdate()
    end = end or today
    start = start or end - timedelta(days=30)
    if start > end:
        start, end = end, start
    if (end - start).days > MAX_RANGE_DAYS:
        start = end - timedelta(days=MAX_RANGE_DAYS)
    return start, end


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def _ordered(qs: QuerySet, sort: str) -> QuerySet:
    key = sort.lstrip("-")
    desc = sort.startswith("-")
    if key == "patient":
        # The patient a row shows: the event's patient, or the first one a list event names (_rows does the same).
        qs = qs.annotate(shown_patient=Coalesce("patient_id", F("patient_ids__0")))
        qs = qs.annotate(
            patient_mrn=Subquery(
                subject_model()._default_manager.filter(pk=OuterRef("shown_patient")).values("mrn")[:1]
            )
        )
    elif key == "reason":
        from django.db.models.fields.json import KT

        qs = qs.annotate(reason=KT("detail__reason"))
    col = SORT_KEYS[key]
    primary = F(col).desc(nulls_last=True) if desc else F(col).asc(nulls_last=True)
    # A stable tie-break keeps pages from overlapping.
    return qs.order_by(primary, "-occurred_at" if desc else "occurred_at", "-id" if desc else "id")


def _patient_labels(ids: set) -> dict:
    """MRN and name of the patients named by the shown events (the privacy officer's need-to-know, nothing more)."""
    if not ids:
        return {}
    return {
        p["id"]: p
        for p in subject_model()
        ._default_manager.filter(pk__in=ids)
        .values("id", "mrn", "given_name", "family_name")
    }


def _shown_id(ev: AccessEvent, subject=None):
    """The patient a row shows: the report's subject if the event names it, else the event's patient, else the
    first patient a list event names."""
    if subject is not None and (
        ev.patient_id == subject or str(subject) in {str(p) for p in ev.patient_ids or []}
    ):
        return subject
    return ev.patient_id or (uuid.UUID(str(ev.patient_ids[0])) if ev.patient_ids else None)


def _rows(events: list[AccessEvent], subject=None) -> list[EventRow]:
    ids = {pid for pid in (_shown_id(ev, subject) for ev in events) if pid}
    labels = _patient_labels(ids)
    out = []
    for ev in events:
        pid = _shown_id(ev, subject)
        lab = labels.get(pid) if pid else None
        named = {str(p) for p in ev.patient_ids or []}
        if pid:
            named.discard(str(pid))
        others = len(named)
        out.append(
            EventRow(
                event=ev,
                patient_mrn=lab["mrn"] if lab else "",
                patient_name=f"{lab['family_name'].upper()}, {lab['given_name']}" if lab else "",
                others=others,
            )
        )
    return out


def _asof(asof: int | None) -> int:
    if asof:
        return asof
    return AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _page(qs: QuerySet, *, page: int, per_page: int, asof: int) -> tuple[list[AccessEvent], bool]:
    page = min(max(1, page), MAX_PAGE)
    events = list(qs.filter(id__lte=asof)[(page - 1) * per_page : page * per_page + 1])
    return events[:per_page], len(events) > per_page and page < MAX_PAGE


def _shown_patients(rows: list[EventRow]) -> list:
    seen = []
    for r in rows:
        for pid in ([r.event.patient_id] if r.event.patient_id else []) + list(r.event.patient_ids or []):
            if pid and str(pid) not in seen:
                seen.append(str(pid))
    return seen


def audit_patient_find(*, actor, mrn: str) -> dict | None:
    """The id, MRN and name of the patient with this MRN (for the per-patient report's input). Report readers only."""
    _require_reports(actor)
    mrn = (mrn or "").strip()
    if not mrn.isdigit() or not 8 <= len(mrn) <= 12:
        return None
    return (
        subject_model()
        ._default_manager.filter(mrn=mrn)
        .values("id", "mrn", "given_name", "family_name")
        .first()
    )


def audit_user_find(*, actor, username: str):
    _require_reports(actor)
    username = (username or "").strip()
    if not username:
        return None
    return (
        get_user_model()
        .objects.filter(username=username)
        .only("id", "username", "first_name", "last_name")
        .first()
    )


def _patient_events(patient_id, lo: datetime, hi: datetime) -> QuerySet:
    # A merged duplicate's history belongs to the survivor's investigation too.
    ids = [
        patient_id,
        *subject_model()._default_manager.filter(merged_into_id=patient_id).values_list("pk", flat=True),
    ]
    cond = Q(patient_id__in=ids) if len(ids) > 1 else Q(patient_id=patient_id)
    for pid in ids:
        cond |= Q(patient_ids__contains=[pid])
    return AccessEvent.objects.filter(cond, occurred_at__gte=lo, occurred_at__lt=hi)


def _by_whom(qs: QuerySet, who: str | None) -> QuerySet:
    if who == "system":
        return qs.filter(actor_id__isnull=True)
    if who and who[:1] == "u" and who[1:].isdigit():
        return qs.filter(actor_id=int(who[1:]))
    return qs


def audit_events_for_patient(
    *,
    actor,
    patient_id,
    start: date | None = None,
    end: date | None = None,
    sort: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    asof: int | None = None,
    request=None,
    who: str | None = None,
) -> AuditReport:
    """Who opened this chart: every event naming the patient (alone or in a list) between start and end; `who`
    ("u<user id>" or "system") narrows it to one person or to the background jobs (the summary's "all events").
    Who: privacy officers (audit.view_reports). Records one AUDIT_REPORT event naming the patient."""
    _require_reports(actor)
    start, end = date_range(start, end)
    sort = normalise_sort(sort)
    asof = _asof(asof)
    events, more = _page(
        _ordered(_by_whom(_patient_events(patient_id, *_bounds(start, end)), who), sort),
        page=page,
        per_page=per_page,
        asof=asof,
    )
    rows = _rows(events, subject=_uuid(patient_id))
    access_record(
        actor=actor,
        action=Action.VIEW,
        category=categories.AUDIT_REPORT,
        patient_id=patient_id,
        request=request,
        detail={
            "report": "patient",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "page": page,
            **({"who": who} if who else {}),
        },
    )
    return AuditReport(
        rows=rows,
        sort=sort,
        page=page,
        more=more,
        start=start,
        end=end,
        asof=asof,
        subject={"patient_id": patient_id},
    )


def audit_events_for_user(
    *,
    actor,
    user_id: int,
    start: date | None = None,
    end: date | None = None,
    sort: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    asof: int | None = None,
    request=None,
) -> AuditReport:
    """What did this user open: every event by the user between start and end.
    Who: privacy officers. Records one AUDIT_REPORT event naming the patients shown."""
    _require_reports(actor)
    start, end = date_range(start, end)
    sort = normalise_sort(sort)
    asof = _asof(asof)
    lo, hi = _bounds(start, end)
    qs = AccessEvent.objects.filter(actor_id=user_id, occurred_at__gte=lo, occurred_at__lt=hi)
    events, more = _page(_ordered(qs, sort), page=page, per_page=per_page, asof=asof)
    rows = _rows(events)
    access_record(
        actor=actor,
        action=Action.VIEW,
        category=categories.AUDIT_REPORT,
        patient_ids=_shown_patients(rows),
        request=request,
        detail={
            "report": "user",
            "user_id": user_id,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "page": page,
        },
    )
    return AuditReport(
        rows=rows,
        sort=sort,
        page=page,
        more=more,
        start=start,
        end=end,
        asof=asof,
        subject={"user_id": user_id},
    )


def _break_glass_qs(lo: datetime, hi: datetime, *, grants_only: bool) -> QuerySet:
    cond = Q(action=Action.BREAK_GLASS) if grants_only else Q(break_glass=True) | Q(action=Action.BREAK_GLASS)
    return AccessEvent.objects.filter(cond, occurred_at__gte=lo, occurred_at__lt=hi)


def break_glass_events(
    *,
    actor,
    start: date | None = None,
    end: date | None = None,
    sort: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    grants_only: bool = False,
    asof: int | None = None,
    request=None,
) -> AuditReport:
    """Emergency access: the requests (with the reason given) and, unless grants_only, every read made under it.
    Who: privacy officers. Records one AUDIT_REPORT event naming the patients shown."""
    _require_reports(actor)
    start, end = date_range(start, end)
    sort = normalise_sort(sort)
    asof = _asof(asof)
    events, more = _page(
        _ordered(_break_glass_qs(*_bounds(start, end), grants_only=grants_only), sort),
        page=page,
        per_page=per_page,
        asof=asof,
    )
    rows = _rows(events)
    access_record(
        actor=actor,
        action=Action.VIEW,
        category=categories.AUDIT_REPORT,
        patient_ids=_shown_patients(rows),
        request=request,
        detail={"report": "break_glass", "start": start.isoformat(), "end": end.isoformat(), "page": page},
    )
    return AuditReport(
        rows=rows,
        sort=sort,
        page=page,
        more=more,
        start=start,
        end=end,
        asof=asof,
        subject={"grants_only": grants_only},
    )


def audit_export_rows(
    *,
    actor,
    report: str,
    start: date | None = None,
    end: date | None = None,
    sort: str | None = None,
    patient_id=None,
    user_id: int | None = None,
    grants_only: bool = False,
    request=None,
    chunk: int = 2000,
) -> Iterator[EventRow]:
    """Every row of one report, for CSV export, streamed in chunks. Records one EXPORT event up front (the export
    is what is disclosed, whether or not the download completes)."""
    _require_reports(actor)
    start, end = date_range(start, end)
    sort = normalise_sort(sort)
    lo, hi = _bounds(start, end)
    subject = _uuid(patient_id) if patient_id else None
    if report == "patient":
        qs = _patient_events(patient_id, lo, hi)
        named = [str(subject)]  # every row shows the subject (_shown_id)
    elif report in ("user", "break_glass"):
        qs = (
            AccessEvent.objects.filter(actor_id=user_id, occurred_at__gte=lo, occurred_at__lt=hi)
            if report == "user"
            else _break_glass_qs(lo, hi, grants_only=grants_only)
        )
        named = _exported_patients(qs)
    else:
        raise ValueError(report)
    # The export is what is disclosed, whether or not the download completes: one event up front, naming every
    # patient whose MRN and name the file will show.
    access_record(
        actor=actor,
        action=Action.EXPORT,
        category=categories.AUDIT_REPORT,
        patient_id=subject,
        patient_ids=named,
        request=request,
        detail={
            "report": report,
            "user_id": user_id,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "format": "csv",
            "patients": len(named),
        },
    )
    qs = _ordered(qs, sort)

    def _gen() -> Iterator[EventRow]:
        batch: list[AccessEvent] = []
        for ev in qs.iterator(chunk_size=chunk):
            batch.append(ev)
            if len(batch) >= chunk:
                yield from _rows(batch, subject)
                batch = []
        if batch:
            yield from _rows(batch, subject)

    return _gen()


def _exported_patients(qs: QuerySet) -> list[str]:
    """The patients a report's rows show (one per row, as _shown_id without a subject), in one query."""
    shown = (
        qs.order_by()
        .annotate(shown=Coalesce("patient_id", F("patient_ids__0")))
        .exclude(shown=None)
        .values_list("shown", flat=True)
        .distinct()
    )
    return sorted(str(p) for p in shown)


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
