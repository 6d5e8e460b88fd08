"""Every read of scheduling and encounter data.

Selectors that take `patient` expect a patient already fetched through patients.selectors.patient_get (which
checked the permission and recorded the access with the page's data category); they record nothing themselves.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, CharField, F, IntegerField, Lookup, Q, Value, When
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from core.links import pk_url
from core.prepared import SENTINEL_ID, Prepared
from patients.access import visible_condition, visible_patients
from patients.models import display_name
from patients.selectors import patient_get

from . import recurrence, vitals
from .models import (
    FREE_STATUSES,
    Allergy,
    AllergyCriticality,
    AllergyStatus,
    AmendmentRequest,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Encounter,
    Icd10Code,
    Immunization,
    ImmunizationStatus,
    Location,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteStatus,
    NoteTemplate,
    Observation,
    ObservationCategory,
    ObservationStatus,
    Problem,
    ProblemStatus,
    ProviderFeed,
    Room,
    Series,
    TimeOff,
    VitalSigns,
    WaitlistEntry,
    WaitlistStatus,
    WorkingHours,
)

# High criticality first on the banner and the chart (text order would put "low" before "high").
CRITICALITY_RANK = Case(
    When(criticality=AllergyCriticality.HIGH, then=Value(0)),
    When(criticality=AllergyCriticality.UNABLE, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


# The chart's lists, compiled once per process (core/prepared.py): the chart page runs them on every first view.
_ALLERGIES_ACTIVE = Prepared(
    lambda patient_id: Allergy.objects.filter(patient_id=patient_id, status=AllergyStatus.ACTIVE).order_by(
        CRITICALITY_RANK, "substance_text"
    ),
    patient_id=SENTINEL_ID,
)
_MEDICATIONS_ACTIVE = Prepared(
    lambda patient_id: MedicationStatement.objects.filter(
        patient_id=patient_id, status=MedicationStatus.ACTIVE
    ).order_by("name"),
    patient_id=SENTINEL_ID,
)
_PROBLEMS_ACTIVE = Prepared(
    lambda patient_id: Problem.objects.filter(patient_id=patient_id, status=ProblemStatus.ACTIVE).order_by(
        "description"
    ),
    patient_id=SENTINEL_ID,
)
_VITALS_LATEST = Prepared(
    lambda patient_id: VitalSigns.objects.filter(patient_id=patient_id).order_by("-taken_at")[:1],
    patient_id=SENTINEL_ID,
)
_ENCOUNTERS_RECENT = Prepared(
    lambda patient_id: (
        Encounter.objects.filter(patient_id=patient_id)
        .select_related("provider")
        .order_by("-start", "-id")[:10]
    ),
    patient_id=SENTINEL_ID,
)


def allergies_active(*, patient) -> list[Allergy]:
    """Active allergies and intolerances, the most critical first."""
    return _ALLERGIES_ACTIVE(patient_id=patient.pk)


def medications_active(*, patient) -> list[MedicationStatement]:
    """Current medications, prescribed here or reported by the patient."""
    return _MEDICATIONS_ACTIVE(patient_id=patient.pk)


def problems_active(*, patient) -> list[Problem]:
    return _PROBLEMS_ACTIVE(patient_id=patient.pk)


def problems_all(*, patient) -> list[Problem]:
    return list(
        Problem.objects.filter(patient=patient)
        .exclude(status=ProblemStatus.ERROR)
        .order_by("status", "description")
    )


def allergies_all(*, patient) -> list[Allergy]:
    return list(
        Allergy.objects.filter(patient=patient)
        .exclude(status=AllergyStatus.ERROR)
        .order_by("status", CRITICALITY_RANK, "substance_text")
    )


def medications_all(*, patient) -> list[MedicationStatement]:
    return list(
        MedicationStatement.objects.filter(patient=patient)
        .exclude(status=MedicationStatus.ERROR)
        .order_by("status", "name")
    )


def vitals_latest(*, patient) -> VitalSigns | None:
    rows = _VITALS_LATEST(patient_id=patient.pk)
    return rows[0] if rows else None


def vitals_rows(vs: VitalSigns | None) -> list[dict]:
    """Display rows (label, value, unit, LOINC, flag) for one set of vitals."""
    if vs is None:
        return []
    out = []
    for d in vitals.VITALS:
        value = getattr(vs, d.field)
        if value is not None:
            out.append(
                {
                    "label": d.label,
                    "value": value,
                    "unit": d.unit,
                    "loinc": d.loinc,
                    "flag": vitals.flag(d.field, value),
                }
            )
    return out


def vitals_trend(*, patient, field: str = "systolic", limit: int = 30) -> dict:
    """Points for a server-rendered SVG trend of one vital sign (oldest to newest)."""
    d = vitals.BY_FIELD.get(field) or vitals.BY_FIELD["systolic"]
    rows = list(
        VitalSigns.objects.filter(patient=patient, **{f"{d.field}__isnull": False})
        .order_by("-taken_at")
        .values_list("taken_at", d.field)[:limit]
    )[::-1]
    width, height, pad = 600, 160, 24
    if not rows:
        return {"def": d, "points": [], "width": width, "height": height}
    values = [float(v) for _, v in rows]
    lo, hi = min(values + [d.normal[0]]), max(values + [d.normal[1]])
    span = (hi - lo) or 1
    step = (width - 2 * pad) / max(1, len(rows) - 1)

    def y(v: float) -> float:
        return round(height - pad - (v - lo) / span * (height - 2 * pad), 1)

    points = [
        {"x": round(pad + i * step, 1), "y": y(v), "value": v, "at": t, "flag": vitals.flag(d.field, v)}
        for i, ((t, _), v) in enumerate(zip(rows, values, strict=True))
    ]
    return {
        "def": d,
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "width": width,
        "height": height,
        "normal_top": y(d.normal[1]),
        "normal_bottom": y(d.normal[0]),
        "normal_height": round(y(d.normal[0]) - y(d.normal[1]), 1),
        "choices": vitals.VITALS,
    }


# ------------------------------------------------------------------ encounters
def encounter_get(*, actor, encounter_id, request=None, category=categories.ENCOUNTER) -> Encounter:
    """An encounter and its patient, if actor may see the patient's clinical record (404 otherwise).
    Records the access with the page's category."""
    try:
        enc = Encounter.objects.select_related("provider", "location", "appointment").get(pk=encounter_id)
    except (Encounter.DoesNotExist, ValueError):
        raise Http404("No encounter found") from None
    enc.patient = patient_get(
        actor=actor, patient_id=enc.patient_id, perm=roles.VIEW_CLINICAL, category=category, request=request
    )
    return enc


def encounter_notes(*, encounter) -> list[Note]:
    return list(
        Note.objects.filter(encounter=encounter)
        .select_related("author", "signed_by")
        .prefetch_related("addenda__author", "amendment_requests")
        .order_by("created_at")
    )


def encounter_vitals(*, encounter) -> list[VitalSigns]:
    return list(VitalSigns.objects.filter(encounter=encounter).order_by("-taken_at"))


def note_templates(*, encounter_type: str) -> list[NoteTemplate]:
    """Active templates, those of `encounter_type` first (the one a clinician most likely wants)."""
    rows = list(NoteTemplate.objects.filter(active=True).order_by("name"))
    return sorted(rows, key=lambda t: t.encounter_type != encounter_type)


def note_template_get(*, template_id) -> NoteTemplate | None:
    try:
        return NoteTemplate.objects.filter(pk=int(template_id), active=True).first()
    except (TypeError, ValueError):
        return None


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    first: bool


class BadCursor(ValueError):
    """A timeline cursor that is not '<ISO time>_<uuid>' (a mangled or hand-edited link)."""


def cursor_parse(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        ts, pk = cursor.split("_", 1)
        start = datetime.fromisoformat(ts)
        return (start if start.tzinfo else start.replace(tzinfo=UTC)), uuid.UUID(pk)
    except (ValueError, TypeError, AttributeError):
        raise BadCursor(cursor) from None


def encounters_page(*, patient, cursor: str | None = None, limit: int = 25) -> Page:
    """One page of the patient's timeline, newest first. Keyset pagination on (start, id): the same cost for
    page 1 and page 40 (index encounter_patient_start), and a constant number of queries. Raises BadCursor for a
    malformed cursor."""
    qs = Encounter.objects.filter(patient=patient).select_related("provider", "location")
    if cursor:
        start, pk = cursor_parse(cursor)
        qs = qs.filter(Q(start__lt=start) | Q(start=start, id__lt=pk))
    rows = list(qs.order_by("-start", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = f"{rows[-1].start.isoformat()}_{rows[-1].pk}" if more else None
    return Page(rows=rows, next_cursor=nxt, first=not cursor)


# ------------------------------------------------------------------ chart sections (constant queries)
def chart_encounters(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    rows = _ENCOUNTERS_RECENT(patient_id=patient.pk)
    return {
        "template": "encounters/_chart_encounters.html",
        "title": "Encounters",
        "main": True,
        "rows": rows,
        "nav_url": pk_url("encounters:timeline", patient.pk),
    }


def chart_problems(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_problems.html",
        "title": "Problems",
        "aside": True,
        "rows": problems_active(patient=patient),
        "nav_url": pk_url("encounters:problems", patient.pk),
    }


def chart_allergies(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_allergies.html",
        "title": "Allergies",
        "aside": True,
        "rows": allergies_active(patient=patient),
        "nav_url": pk_url("encounters:allergies", patient.pk),
    }


def chart_medications(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_medications.html",
        "title": "Medications",
        "aside": True,
        "rows": medications_active(patient=patient),
        "nav_url": pk_url("encounters:medications", patient.pk),
    }


def chart_vitals(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    latest = vitals_latest(patient=patient)
    return {
        "template": "encounters/_chart_vitals.html",
        "title": "Vital signs",
        "aside": True,
        "latest": latest,
        "rows": vitals_rows(latest),
        "nav_url": pk_url("encounters:vitals_trend", patient.pk),
    }


def chart_immunizations(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_immunizations.html",
        "title": "Immunizations",
        "aside": True,
        "rows": _IMMUNIZATIONS_RECENT(patient_id=patient.pk),
        "nav_url": pk_url("encounters:immunizations", patient.pk),
    }


def chart_results(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_results.html",
        "title": "Results",
        "aside": True,
        "rows": results_latest(patient=patient, limit=10),
        "nav_url": pk_url("encounters:results", patient.pk),
    }


# ------------------------------------------------------------------ immunizations and results
def _immunizations(patient_id):
    return (
        Immunization.objects.filter(patient_id=patient_id)
        .exclude(status=ImmunizationStatus.ERROR)
        .select_related("performer")
        .order_by("-occurrence")
    )


_IMMUNIZATIONS_RECENT = Prepared(lambda patient_id: _immunizations(patient_id)[:8], patient_id=SENTINEL_ID)
# The latest laboratory value of each test (LOINC code): DISTINCT ON, at most 200 tests.
_RESULTS_LATEST = Prepared(
    lambda patient_id: (
        Observation.objects.filter(patient_id=patient_id, category=ObservationCategory.LABORATORY)
        .exclude(status=ObservationStatus.ERROR)
        .order_by("loinc_code", "-effective")
        .distinct("loinc_code")[:200]
    ),
    patient_id=SENTINEL_ID,
)


def immunizations_all(*, patient, limit: int = 500) -> list[Immunization]:
    """The patient's immunizations, newest first (entered-in-error ones left out). One query."""
    return list(_immunizations(patient.pk)[:limit])


def results_latest(*, patient, limit: int = 10) -> list[Observation]:
    """The latest laboratory value of each test (LOINC code), most recent first. One query (DISTINCT ON)."""
    rows = _RESULTS_LATEST(patient_id=patient.pk)
    return sorted(rows, key=lambda o: o.effective, reverse=True)[:limit]


@dataclass
class ResultGroup:
    loinc_code: str
    display: str
    rows: list


def results_all(*, patient, limit: int = 1000) -> list[ResultGroup]:
    """Every result (the most recent `limit`), grouped by test, each group newest first; the groups in the order
    of their latest result. One query."""
    rows = list(
        Observation.objects.filter(patient=patient)
        .exclude(status=ObservationStatus.ERROR)
        .order_by("-effective", "loinc_code")[:limit]
    )
    groups: dict[tuple[str, str], ResultGroup] = {}
    for o in rows:
        key = (o.category, o.loinc_code or o.display)
        if key not in groups:
            groups[key] = ResultGroup(o.loinc_code, o.display, [])
        groups[key].rows.append(o)
    return list(groups.values())


# ------------------------------------------------------------------ ICD-10
class ILike(Lookup):
    """`column ILIKE pattern`: unlike Django's icontains (UPPER(column) LIKE UPPER(pattern)), the bare column lets
    PostgreSQL use the pg_trgm GIN index on it (icd10_description_trgm, migration 0002)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def _like_contains(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def icd10_search_queryset(*, q: str):
    """Codes by code prefix ("E11") or description words (each word a substring, served by the trigram
    index), billable codes first."""
    q = (q or "").strip()[:100]
    if len(q) < 2:
        return Icd10Code.objects.none()
    if q[0].isalpha() and q[1:2].isdigit():
        return Icd10Code.objects.filter(code__startswith=q.upper()).order_by("code")
    qs = Icd10Code.objects.all()
    for word in q.split()[:5]:
        qs = qs.filter(ILike(F("description"), Value(_like_contains(word), output_field=CharField())))
    return qs.order_by("-billable", "code")


def icd10_search(*, q: str, limit: int = 15) -> list[Icd10Code]:
    return list(icd10_search_queryset(q=q)[:limit])


# ------------------------------------------------------------------ allergens from the medication catalog
def allergen_search(*, q: str, limit: int = 12) -> list[dict]:
    """Drug ingredients of the medication catalog whose name contains every word of `q`: {"rxcui", "name"}.
    The catalog belongs to prescriptions; it is read here, never written."""
    from prescriptions.models import MedicationIngredient

    words = (q or "").strip().split()[:4]
    if not words or len((q or "").strip()) < 2:
        return []
    qs = MedicationIngredient.objects.exclude(ingredient_rxcui="")
    for w in words:
        qs = qs.filter(name__icontains=w)
    rows = qs.values("ingredient_rxcui", "name").order_by("name", "ingredient_rxcui").distinct()[: limit * 3]
    seen, out = set(), []
    for r in rows:
        if r["ingredient_rxcui"] not in seen:
            seen.add(r["ingredient_rxcui"])
            out.append({"rxcui": r["ingredient_rxcui"], "name": r["name"]})
    out.sort(key=lambda r: (not r["name"].lower().startswith(words[0].lower()), len(r["name"]), r["name"]))
    return out[:limit]


def allergen_get(*, rxcui: str) -> dict | None:
    from prescriptions.models import MedicationIngredient

    row = (
        MedicationIngredient.objects.filter(ingredient_rxcui=rxcui)
        .values("ingredient_rxcui", "name")
        .order_by("name")
        .first()
    )
    return {"rxcui": row["ingredient_rxcui"], "name": row["name"]} if row else None


def allergen_by_name(*, name: str) -> dict | None:
    """The catalog ingredient called exactly `name` (any case), if there is exactly one."""
    from prescriptions.models import MedicationIngredient

    rows = list(
        MedicationIngredient.objects.filter(name__iexact=(name or "").strip())
        .exclude(ingredient_rxcui="")
        .values_list("ingredient_rxcui", "name")
        .distinct()[:2]
    )
    codes = {r[0] for r in rows}
    return {"rxcui": rows[0][0], "name": rows[0][1]} if len(codes) == 1 else None


# ------------------------------------------------------------------ scheduling reads
def can_view_schedules(actor) -> bool:
    return actor.has_perm("encounters.view_provider_schedule")


def providers_queryset():
    """Users who see patients (have a Practitioner record), for booking forms and calendars."""
    return (
        get_user_model()
        .objects.filter(is_active=True, practitioner__isnull=False)
        .order_by("last_name", "first_name")
    )


def providers_list() -> list:
    return list(providers_queryset())


def provider_get(*, provider_id):
    """An active provider by id, or None (ids come from query strings: anything else is None)."""
    try:
        pk = int(provider_id)
    except (TypeError, ValueError):
        return None
    return providers_queryset().filter(pk=pk).first()


def appointment_types() -> list[AppointmentType]:
    return list(AppointmentType.objects.all())


def locations() -> list[Location]:
    return list(Location.objects.all())


def rooms() -> list[Room]:
    return list(Room.objects.select_related("location"))


# What a calendar shows of an appointment: its time, status, patient (the name, and whether the viewer may see it),
# type, provider, room and location; in one statement, written out, each row a CalendarAppointment rather than an
# Appointment. A clinic network's day is hundreds of rows: an Appointment per row (its __init__, its deferred
# columns, seven uuid.UUID parses), a read per related table and the visible-patients probe composed with the ORM
# were two thirds of a 382-row day page's time (docs/benchmark.md). The day list, the week, the home panels and the
# iCalendar download read nothing else (tests/encounters/test_query_counts.py counts their queries,
# tests/encounters/test_scheduling.py checks what they show). The range overlap is the expression of the GiST
# index appt_span, so the day's appointments are found without reading the providers' whole history.
_CALENDAR_SQL = """
SELECT a.id::text, a.start, a."end", a.status, a.patient_id::text,
       pt.given_name, pt.family_name, pt.preferred_name, {visible},
       a.provider_id, u.username, u.first_name, u.last_name,
       a.appointment_type_id::text, t.name, t.colour,
       a.room_id::text, r.name, a.location_id::text, l.name
  FROM encounters_appointment a
  JOIN patients_patient pt ON pt.id = a.patient_id
  JOIN auth_user u ON u.id = a.provider_id
  JOIN encounters_appointmenttype t ON t.id = a.appointment_type_id
  LEFT JOIN encounters_room r ON r.id = a.room_id
  LEFT JOIN encounters_location l ON l.id = a.location_id
 WHERE tstzrange(a.start, a."end", '[)') && tstzrange(%(start)s, %(end)s, '[)')
   AND a.status <> %(cancelled)s{where}
 ORDER BY a.start, a.provider_id"""
_STATUS_LABELS = dict(AppointmentStatus.choices)


@dataclass(slots=True, eq=False)
class CalendarAppointment:
    """An appointment as a calendar shows it (calendar()): ids as text; the provider, type, room and location
    are instances holding the columns a calendar reads (any other column is read from the database on first
    use, as a deferred field)."""

    pk: str
    start: datetime
    end: datetime
    status: str
    patient_id: str
    patient_name: str
    provider_id: int
    provider: object
    appointment_type_id: str
    appointment_type: AppointmentType
    room_id: str | None
    room: Room | None
    location_id: str | None
    location: Location | None

    @property
    def active(self) -> bool:
        return self.status not in FREE_STATUSES

    def get_status_display(self) -> str:
        return _STATUS_LABELS.get(self.status, self.status)


@dataclass(slots=True)
class CalendarItem:
    appointment: CalendarAppointment
    visible: bool  # may the viewer see who the patient is?

    @property
    def label(self) -> str:
        return self.appointment.patient_name if self.visible else "Busy"


def _shared(cache: dict, model, key, **columns) -> object:
    """One instance per provider (type, room, location) of the day, from the columns of its first row."""
    obj = cache.get(key)
    if obj is None:
        names = [f.attname for f in model._meta.concrete_fields if f.attname in columns]  # from_db's order
        obj = cache[key] = model.from_db(None, names, [columns[n] for n in names])
    return obj


def _calendar_items(
    *, actor, start, end, provider_ids=None, statuses=None, visible_only=False, limit=None
) -> list[CalendarItem]:
    """The rows of calendar() and calendar_next(), nothing recorded."""
    if not can_view_schedules(actor):
        raise Http404("No schedule")
    visible, params = visible_condition(
        actor,
        roles.VIEW_SCHEDULE,
        patient="a.patient_id",
        department="pt.department_id",
        merged="pt.merged_into_id",
    )
    params.update(start=start, end=end, cancelled=AppointmentStatus.CANCELLED.value)
    where = ""
    if provider_ids:
        where += " AND a.provider_id = ANY(%(providers)s)"
        params["providers"] = [int(p) for p in provider_ids]
    if statuses:
        where += " AND a.status = ANY(%(statuses)s)"
        params["statuses"] = [str(s) for s in statuses]
    if visible_only:
        where += f" AND {visible}"
    sql = _CALENDAR_SQL.format(visible=visible, where=where)
    if limit is not None:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    with connection.cursor() as cur:
        cur.execute(sql, params)
        found = cur.fetchall()
    User = get_user_model()
    users, types, rooms_, places = {}, {}, {}, {}
    items = []
    for (
        pk,
        begin,
        finish,
        status,
        patient_id,
        given,
        family,
        preferred,
        seen,
        provider_id,
        username,
        first,
        last,
        type_id,
        type_name,
        colour,
        room_id,
        room_name,
        location_id,
        location_name,
    ) in found:
        appt = CalendarAppointment(
            pk,
            begin,
            finish,
            status,
            patient_id,
            display_name(given, family, preferred) if seen else "",
            provider_id,
            _shared(
                users, User, provider_id, id=provider_id, username=username, first_name=first, last_name=last
            ),
            type_id,
            _shared(types, AppointmentType, type_id, id=type_id, name=type_name, colour=colour),
            room_id,
            _shared(rooms_, Room, room_id, id=room_id, name=room_name, location_id=location_id)
            if room_id
            else None,
            location_id,
            _shared(places, Location, location_id, id=location_id, name=location_name)
            if location_id
            else None,
        )
        items.append(CalendarItem(appt, seen))
    return items


def _record_shown(actor, items: list[CalendarItem], request) -> None:
    shown = sorted({i.appointment.patient_id for i in items if i.visible})
    access_record(
        actor=actor, action=Action.LIST, category=categories.SCHEDULE, patient_ids=shown, request=request
    )


def calendar(*, actor, start: datetime, end: datetime, provider_ids=None, request=None) -> list[CalendarItem]:
    """Appointments of providers between start and end. Who: users with encounters.view_provider_schedule.
    Patient names only where the viewer holds view_schedule on the patient; otherwise "Busy".
    One access event names the patients shown."""
    items = _calendar_items(actor=actor, start=start, end=end, provider_ids=provider_ids)
    _record_shown(actor, items, request)
    return items


def calendar_next(
    *, actor, start: datetime, end: datetime, limit: int, provider_ids=None, statuses=None, request=None
) -> tuple[list[CalendarItem], bool]:
    """The first `limit` appointments between start and end whose patient the viewer may see (in `statuses`
    when given), and whether more follow: a work list, not the whole day of a clinic network. One access event
    names the patients shown."""
    items = _calendar_items(
        actor=actor,
        start=start,
        end=end,
        provider_ids=provider_ids,
        statuses=statuses,
        visible_only=True,
        limit=limit + 1,
    )
    items, more = items[:limit], len(items) > limit
    _record_shown(actor, items, request)
    return items, more


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = recurrence.aware(datetime.combine(day, datetime.min.time()))
    return start, recurrence.aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))


def patient_appointments(*, patient, limit: int = 20) -> list[Appointment]:
    """Upcoming and recent appointments of a patient fetched through patient_get (category SCHEDULE)."""
    since = timezone.now() - timedelta(days=30)
    return list(
        Appointment.objects.filter(patient=patient, start__gte=since)
        .select_related("provider", "appointment_type", "series")
        .order_by("start")[:limit]
    )


def appointment_get(*, actor, appointment_id, request=None) -> Appointment:
    """One appointment, if actor may see the patient's schedule (404 otherwise)."""
    try:
        appt = Appointment.objects.select_related(
            "provider", "appointment_type", "room", "location", "series"
        ).get(pk=appointment_id)
    except (Appointment.DoesNotExist, ValueError):
        raise Http404("No appointment") from None
    appt.patient = patient_get(
        actor=actor,
        patient_id=appt.patient_id,
        perm=roles.VIEW_SCHEDULE,
        category=categories.SCHEDULE,
        request=request,
    )
    appt.encounter_id_or_none = (
        Encounter.objects.filter(appointment=appt).values_list("pk", flat=True).first()
    )
    return appt


def slots_next(
    *,
    provider,
    appointment_type: AppointmentType,
    after: datetime | None = None,
    days: int = 21,
    limit: int = 10,
) -> list[datetime]:
    """The next free starts for a provider and an appointment type: inside working hours (effective that day),
    outside time off and other appointments. Three queries whatever the range."""
    tz = recurrence.clinic_tz()
    after = max(after or timezone.now(), timezone.now())
    first_day = timezone.localtime(after, tz).date()
    last_day = first_day + timedelta(days=days)
    hours = list(
        WorkingHours.objects.filter(provider=provider, effective_from__lte=last_day).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=first_day)
        )
    )
    lo, hi = day_bounds(first_day)[0], day_bounds(last_day)[1]
    busy = list(
        Appointment.objects.filter(provider=provider, start__lt=hi, end__gt=lo)
        .exclude(status__in=FREE_STATUSES)
        .values_list("start", "end")
    )
    busy += list(
        TimeOff.objects.filter(provider=provider, start__lt=hi, end__gt=lo).values_list("start", "end")
    )
    length = timedelta(minutes=appointment_type.duration_minutes)
    out: set[datetime] = set()
    day = first_day
    while day <= last_day and len(out) < limit:
        for wh in sorted(
            (
                h
                for h in hours
                if h.weekday == day.weekday()
                and h.effective_from <= day
                and (h.effective_to is None or h.effective_to >= day)
            ),
            key=lambda h: h.start_time,
        ):
            # Step in absolute time (UTC): on a DST night, 01:40 + 20 min is 03:00, never a 02:00 that does not
            # exist; the wall-clock bounds of the working hours are placed in the clinic zone first.
            s = recurrence.aware(datetime.combine(day, wh.start_time)).astimezone(UTC)
            stop = recurrence.aware(datetime.combine(day, wh.end_time)).astimezone(UTC)
            while s + length <= stop and len(out) < limit:
                e = s + length
                if s >= after and not any(bs < e and be > s for bs, be in busy):
                    out.add(s)  # a set: legacy overlapping working-hours rows never offer a slot twice
                s = e
        day += timedelta(days=1)
    return [timezone.localtime(x, tz) for x in sorted(out)]


def waitlist(*, actor, request=None) -> list[WaitlistEntry]:
    """Open waitlist entries (waiting or offered) for patients whose schedule actor may manage."""
    visible = visible_patients(actor, roles.MANAGE_SCHEDULE)
    rows = list(
        WaitlistEntry.objects.filter(
            status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED], patient__in=visible
        )
        .select_related("patient", "provider", "appointment_type")
        .order_by("status", "created_at")
    )
    if rows:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.SCHEDULE,
            patient_ids=[r.patient_id for r in rows],
            request=request,
        )
    return rows


def provider_feed(*, actor, provider, request=None) -> list[CalendarItem]:
    """The provider's next 90 days for the signed-in iCalendar download (names where the viewer may see them)."""
    now = timezone.now()
    return calendar(
        actor=actor,
        start=now - timedelta(days=7),
        end=now + timedelta(days=90),
        provider_ids=[provider.pk],
        request=request,
    )


def provider_feed_by_token(*, token: str) -> ProviderFeed | None:
    """The subscription a secret token opens (compared by its SHA-256; the token itself is not stored)."""
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return (
        ProviderFeed.objects.select_related("provider")
        .filter(token_sha256=digest, provider__is_active=True)
        .first()
    )


def provider_feed_appointments(*, feed: ProviderFeed, request=None) -> list[Appointment]:
    """The provider's appointments from a week ago to 90 days ahead, for a calendar subscription. Recorded as a
    schedule read by the provider (the token is theirs) over the subscription channel, naming the patients
    whose appointment times left the system, although the feed itself carries no names."""
    now = timezone.now()
    rows = list(
        Appointment.objects.filter(
            provider=feed.provider, start__lt=now + timedelta(days=90), end__gt=now - timedelta(days=7)
        )
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("appointment_type", "location", "room")
        .order_by("start")
    )
    access_record(
        actor=feed.provider,
        action=Action.LIST,
        category=categories.SCHEDULE,
        patient_ids=sorted({str(a.patient_id) for a in rows}),
        request=request,
        channel="ical",
        detail={"feed": "subscription", "provider": feed.provider_id},
    )
    return rows


def provider_feed_status(*, provider) -> ProviderFeed | None:
    return ProviderFeed.objects.filter(provider=provider).first()


# ------------------------------------------------------------------ time off and blocks (reference data)
def time_off_upcoming(*, provider=None, days_back: int = 7, limit: int = 200) -> list[TimeOff]:
    since = timezone.now() - timedelta(days=days_back)
    qs = TimeOff.objects.filter(end__gte=since).select_related("provider").order_by("start")
    if provider is not None:
        qs = qs.filter(provider=provider)
    return list(qs[:limit])


def series_notices(*, patient) -> list[dict]:
    """Occurrences of the patient's series that the rolling horizon could not book (slot taken, provider away):
    shown on the appointments page so that none vanishes silently."""
    out = []
    for s in Series.objects.filter(patient=patient).exclude(skipped=[]).select_related("provider"):
        for item in s.skipped:
            out.append({"series": s, "start": datetime.fromisoformat(item["start"]), "why": item["why"]})
    return sorted(out, key=lambda x: x["start"])


# ------------------------------------------------------------------ home page
# A home panel is a work list: the next rows, then a link to the day list (a clinic network's day is a thousand).
HOME_PANEL_ROWS = 25
# What the front desk still acts on today: not done, not a no-show.
_OPEN_STATUSES = (
    AppointmentStatus.SCHEDULED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.IN_ROOM,
    AppointmentStatus.WITH_PROVIDER,
)
_ARRIVED_STATUSES = (AppointmentStatus.ARRIVED, AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_ROOM)


def home_panels(*, actor, now: datetime | None = None) -> list[dict]:
    """The home page's work lists by role: front desk -> today's appointments still to come (or under way);
    clinician -> their own day and unsigned notes; nurse -> patients arrived and not yet with the provider. Each
    lists the patients the viewer may see, the first HOME_PANEL_ROWS of them ("more" says others follow), and
    records one list event naming those shown."""
    user_roles = roles.user_roles(actor)
    panels: list[dict] = []
    now = now or timezone.now()
    start, end = day_bounds(timezone.localdate(now, recurrence.clinic_tz()))
    today = {"actor": actor, "end": end, "limit": HOME_PANEL_ROWS}
    if roles.Role.FRONT_DESK in user_roles:
        items, more = calendar_next(start=max(start, now), statuses=_OPEN_STATUSES, **today)
        panels.append(
            {
                "title": "Coming up today",
                "template": "encounters/_panel_day.html",
                "rows": items,
                "more": more,
            }
        )
    if roles.Role.CLINICIAN in user_roles:
        items, more = calendar_next(start=start, provider_ids=[actor.pk], **today)
        panels.append(
            {
                "title": "Your patients today",
                "template": "encounters/_panel_day.html",
                "rows": items,
                "more": more,
            }
        )
        notes = list(
            Note.objects.filter(author=actor, status=NoteStatus.DRAFT)
            .select_related("patient", "encounter")
            .order_by("created_at")[:20]
        )
        if notes:
            access_record(
                actor=actor,
                action=Action.LIST,
                category=categories.CLINICAL_NOTE,
                patient_ids=[n.patient_id for n in notes],
            )
        panels.append({"title": "Unsigned notes", "template": "encounters/_panel_notes.html", "rows": notes})
    if roles.Role.NURSE in user_roles:
        items, more = calendar_next(start=start, statuses=_ARRIVED_STATUSES, **today)
        panels.append(
            {"title": "Arrivals", "template": "encounters/_panel_day.html", "rows": items, "more": more}
        )
    return panels


# ------------------------------------------------------------------ single rows for list pages
def _row_get(model, pk, *, actor, category, request, what: str):
    try:
        row = model.objects.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(f"No {what} found") from None
    patient_get(
        actor=actor, patient_id=row.patient_id, perm=roles.VIEW_CLINICAL, category=category, request=request
    )
    return row


def problem_get(*, actor, problem_id, request=None) -> Problem:
    return _row_get(
        Problem, problem_id, actor=actor, category=categories.PROBLEMS, request=request, what="problem"
    )


def allergy_get(*, actor, allergy_id, request=None) -> Allergy:
    return _row_get(
        Allergy, allergy_id, actor=actor, category=categories.ALLERGIES, request=request, what="allergy"
    )


def medication_get(*, actor, medication_id, request=None) -> MedicationStatement:
    return _row_get(
        MedicationStatement,
        medication_id,
        actor=actor,
        category=categories.MEDICATIONS,
        request=request,
        what="medication",
    )


def amendment_encounter_id(*, amendment_id):
    """For the redirect after a refused decision (the service has already checked the caller)."""
    try:
        eid = (
            AmendmentRequest.objects.filter(pk=amendment_id)
            .values_list("note__encounter_id", flat=True)
            .first()
        )
    except (ValueError, ValidationError):
        eid = None
    if eid is None:
        raise Http404("No amendment request")
    return eid


def series_booked_count(*, series) -> int:
    return Appointment.objects.filter(series=series).count()
