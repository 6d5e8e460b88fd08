"""Who opened this chart, as a summary that answers a complaint: one line per person (or background job) with their
role, first and last access, what they opened, whether they used emergency access, and their latest events.

Reads the same events as audit_events_for_patient (audit/selectors.py: the indexes on patient_id and patient_ids,
partitions pruned by the range) in a constant number of queries however many events there are: one grouped
query for the lines, one for each line's latest events (a window per person), one for the people's names and one
for their roles. Who may call: privacy officers (audit.view_reports); each summary records one AUDIT_REPORT event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import ArrayAgg, BoolOr
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.fields.json import KT
from django.db.models.functions import RowNumber

from . import categories
from .labels import system_label
from .models import AccessEvent, Action, Outcome
from .selectors import EventRow, _bounds, _patient_events, _require_reports, date_range
from .services import access_record
from .subjects import role_labels, subject_find

SUMMARY_MAX = 200  # people (and jobs) on one summary; past that, narrow the dates
RECENT = 5  # each line's latest events shown when it is expanded


@dataclass
class PersonLine:
    who: str  # the person's name, or the background job's label
    username: str
    role: str
    system: bool
    first: datetime
    last: datetime
    events: int
    opened: list[str]
    break_glass: bool
    denied: int
    filter_key: str  # the raw list's `who`: "u<id>" or "system"
    recent: list[EventRow] = field(default_factory=list)


@dataclass
class PatientSummary:
    people: list[PersonLine]
    more: bool
    start: date
    end: date
    events: int


def _keyed(qs: QuerySet) -> QuerySet:
    """The columns that tell one line from another: the user, or for events without one the name recorded, the
    channel and the background task."""
    return qs.annotate(
        task=KT("detail__task"),
        sys_channel=Case(
            When(actor_id__isnull=True, then=F("channel")), default=Value(None), output_field=CharField()
        ),
        sys_name=Case(
            When(actor_id__isnull=True, then=F("actor_username")),
            default=Value(None),
            output_field=CharField(),
        ),
    )


LINE_KEY = ("actor_id", "sys_name", "sys_channel", "task")


def _lines(qs: QuerySet) -> list[dict]:
    emergency = ExpressionWrapper(
        Q(break_glass=True) | Q(action=Action.BREAK_GLASS), output_field=BooleanField()
    )
    return list(
        _keyed(qs)
        .order_by()
        .values(*LINE_KEY)
        .annotate(
            username=Max("actor_username"),
            first=Min("occurred_at"),
            last=Max("occurred_at"),
            events=Count("id"),
            opened=ArrayAgg("category", distinct=True),
            emergency=BoolOr(emergency),
            denied=Count("id", filter=Q(outcome=Outcome.DENIED)),
        )
        .order_by("-last")[: SUMMARY_MAX + 1]
    )


def _recent(qs: QuerySet) -> dict[tuple, list[AccessEvent]]:
    """Each line's latest RECENT events, in one query (a row number per line, newest first)."""
    rank = Window(
        RowNumber(), partition_by=[F(k) for k in LINE_KEY], order_by=[F("occurred_at").desc(), F("id").desc()]
    )
    out: dict[tuple, list[AccessEvent]] = {}
    for ev in _keyed(qs).annotate(rank=rank).filter(rank__lte=RECENT).order_by("-occurred_at", "-id"):
        out.setdefault(tuple(getattr(ev, k) for k in LINE_KEY), []).append(ev)
    return out


def _people(ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    """Names and role labels of the users, in two queries."""
    User = get_user_model()
    if not ids:
        return {}, {}
    names = {
        u.pk: (u.get_full_name() or u.username)
        for u in User.objects.filter(pk__in=ids).only("id", "username", "first_name", "last_name")
    }
    labels = role_labels()
    roles: dict[int, list[str]] = {}
    for uid, group in User.groups.through.objects.filter(
        user_id__in=ids, group__name__in=list(labels)
    ).values_list("user_id", "group__name"):
        roles.setdefault(uid, []).append(labels[group])
    return names, {uid: ", ".join(sorted(r)) for uid, r in roles.items()}


def _line(ln: dict, names: dict[int, str], roles: dict[int, str], recent: dict) -> PersonLine:
    system = ln["actor_id"] is None
    return PersonLine(
        who=system_label(channel=ln["sys_channel"], task=ln["task"])
        if system
        else names.get(ln["actor_id"], ln["username"]),
        username="" if system else ln["username"],
        role="" if system else roles.get(ln["actor_id"], "No role"),
        system=system,
        first=ln["first"],
        last=ln["last"],
        events=ln["events"],
        opened=sorted(ln["opened"] or []),
        break_glass=bool(ln["emergency"]),
        denied=ln["denied"],
        filter_key="system" if system else f"u{ln['actor_id']}",
        recent=[EventRow(event=ev) for ev in recent.get(tuple(ln[k] for k in LINE_KEY), [])],
    )


def audit_patient_summary(
    *, actor, patient_id, start: date | None = None, end: date | None = None, request=None
) -> PatientSummary:
    """Who opened this chart, one line per person or background job, most recent first. Privacy officers only;
    records one AUDIT_REPORT event naming the patient."""
    _require_reports(actor)
    start, end = date_range(start, end)
    qs = _patient_events(patient_id, *_bounds(start, end))
    lines = _lines(qs)
    more = len(lines) > SUMMARY_MAX
    lines = lines[:SUMMARY_MAX]
    recent = _recent(qs) if lines else {}
    names, roles = _people({ln["actor_id"] for ln in lines if ln["actor_id"] is not None})
    people = [_line(ln, names, roles, recent) for ln in lines]
    access_record(
        actor=actor,
        action=Action.VIEW,
        category=categories.AUDIT_REPORT,
        patient_id=patient_id,
        request=request,
        detail={"report": "patient summary", "start": start.isoformat(), "end": end.isoformat()},
    )
    return PatientSummary(
        people=people, more=more, start=start, end=end, events=sum(p.events for p in people)
    )


def audit_patients_find(*, actor, name: str, birth_date: date, request=None) -> list[dict]:
    """The patients with this name and date of birth (id, MRN, name, date of birth), for the report's look-up.
    Privacy officers only; records one AUDIT_REPORT list event naming the patients found."""
    _require_reports(actor)
    found = subject_find(name=name, birth_date=birth_date)
    access_record(
        actor=actor,
        action=Action.LIST,
        category=categories.AUDIT_REPORT,
        patient_ids=[str(p["id"]) for p in found],
        request=request,
        detail={"report": "patient look-up", "by": "name and date of birth", "found": len(found)},
    )
    return found
