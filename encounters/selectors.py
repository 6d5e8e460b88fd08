"""Every read of scheduling and encounter data.

Selectors that take `patient` expect a patient already fetched through patients.selectors.patient_get (which
checked the permission and recorded the access with the page's data category); they record nothing themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Case, IntegerField, Q, Value, When
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from patients.access import visible_patients
from patients.selectors import patient_get

from . import recurrence, vitals
from .models import (
    FREE_STATUSES,
    Allergy,
    AllergyCriticality,
    AllergyStatus,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Encounter,
    Icd10Code,
    Location,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteStatus,
    NoteTemplate,
    Problem,
    ProblemStatus,
    Room,
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


def allergies_active(*, patient) -> list[Allergy]:
    """Active allergies and intolerances, the most critical first."""
    return list(
        Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE).order_by(
            CRITICALITY_RANK, "substance_text"
        )
    )


def medications_active(*, patient) -> list[MedicationStatement]:
    """Current medications, prescribed here or reported by the patient."""
    return list(
        MedicationStatement.objects.filter(patient=patient, status=MedicationStatus.ACTIVE).order_by("name")
    )


def problems_active(*, patient) -> list[Problem]:
    return list(Problem.objects.filter(patient=patient, status=ProblemStatus.ACTIVE).order_by("description"))


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
    return VitalSigns.objects.filter(patient=patient).order_by("-taken_at").first()


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
    return list(NoteTemplate.objects.filter(encounter_type=encounter_type, active=True))


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    first: bool


def encounters_page(*, patient, cursor: str | None = None, limit: int = 25) -> Page:
    """One page of the patient's timeline, newest first. Keyset pagination on (start, id): the same cost for
    page 1 and page 40 (index encounter_patient_start), and a constant number of queries."""
    qs = Encounter.objects.filter(patient=patient).select_related("provider", "location")
    if cursor:
        try:
            ts, pk = cursor.split("_", 1)
            start = datetime.fromisoformat(ts)
            qs = qs.filter(Q(start__lt=start) | Q(start=start, id__lt=pk))
        except ValueError:
            raise Http404("Bad page") from None
    rows = list(qs.order_by("-start", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = f"{rows[-1].start.isoformat()}_{rows[-1].pk}" if more else None
    return Page(rows=rows, next_cursor=nxt, first=not cursor)


# ------------------------------------------------------------------ chart sections (constant queries)
def chart_encounters(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    rows = list(
        Encounter.objects.filter(patient=patient).select_related("provider").order_by("-start", "-id")[:10]
    )
    return {
        "template": "encounters/_chart_encounters.html",
        "title": "Encounters",
        "main": True,
        "rows": rows,
        "nav_url": reverse("encounters:timeline", args=[patient.pk]),
    }


def chart_problems(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_problems.html",
        "title": "Problems",
        "aside": True,
        "rows": problems_active(patient=patient),
        "nav_url": reverse("encounters:problems", args=[patient.pk]),
    }


def chart_allergies(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_allergies.html",
        "title": "Allergies",
        "aside": True,
        "rows": allergies_active(patient=patient),
        "nav_url": reverse("encounters:allergies", args=[patient.pk]),
    }


def chart_medications(*, actor, patient, request):
    if not patient.access.clinical:
        return None
    return {
        "template": "encounters/_chart_medications.html",
        "title": "Medications",
        "aside": True,
        "rows": medications_active(patient=patient),
        "nav_url": reverse("encounters:medications", args=[patient.pk]),
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
        "nav_url": reverse("encounters:vitals_trend", args=[patient.pk]),
    }


# ------------------------------------------------------------------ ICD-10
def icd10_search(*, q: str, limit: int = 15) -> list[Icd10Code]:
    """Codes by code prefix ("E11") or description words (trigram index), billable first."""
    q = (q or "").strip()[:100]
    if len(q) < 2:
        return []
    if q[0].isalpha() and q[1:2].isdigit():
        code = q.upper()
        return list(Icd10Code.objects.filter(code__startswith=code).order_by("code")[:limit])
    qs = Icd10Code.objects.all()
    for word in q.split()[:5]:
        qs = qs.filter(description__icontains=word)
    return list(qs.order_by("-billable", "code")[:limit])


# ------------------------------------------------------------------ scheduling reads
def can_view_schedules(actor) -> bool:
    return actor.has_perm("encounters.view_provider_schedule")


def providers_list() -> list:
    """Users who see patients (have a Practitioner record), for booking forms and calendars."""
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(is_active=True, practitioner__isnull=False)
        .order_by("last_name", "first_name")
    )


def appointment_types() -> list[AppointmentType]:
    return list(AppointmentType.objects.all())


def locations() -> list[Location]:
    return list(Location.objects.all())


def rooms() -> list[Room]:
    return list(Room.objects.select_related("location"))


@dataclass
class CalendarItem:
    appointment: Appointment
    visible: bool  # may the viewer see who the patient is?

    @property
    def label(self) -> str:
        return self.appointment.patient.display_name if self.visible else "Busy"


def calendar(
    *, actor, start: datetime, end: datetime, provider_ids=None, request=None, patient_ids_only=False
) -> list[CalendarItem]:
    """Appointments of providers between start and end. Who: users with encounters.view_provider_schedule.
    Patient names only where the viewer holds view_schedule on the patient; otherwise "Busy".
    One access event names the patients shown."""
    if not can_view_schedules(actor):
        raise Http404("No schedule")
    qs = (
        Appointment.objects.filter(start__lt=end, end__gt=start)
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "provider", "appointment_type", "room")
        .order_by("start", "provider_id")
    )
    if provider_ids:
        qs = qs.filter(provider_id__in=provider_ids)
    rows = list(qs)
    ids = {a.patient_id for a in rows}
    visible = (
        set(visible_patients(actor, roles.VIEW_SCHEDULE).filter(pk__in=ids).values_list("pk", flat=True))
        if ids
        else set()
    )
    items = [CalendarItem(a, a.patient_id in visible) for a in rows]
    shown = sorted({str(a.patient_id) for a in rows if a.patient_id in visible})
    access_record(
        actor=actor, action=Action.LIST, category=categories.SCHEDULE, patient_ids=shown, request=request
    )
    return items


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
    out: list[datetime] = []
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
            s = recurrence.aware(datetime.combine(day, wh.start_time))
            stop = recurrence.aware(datetime.combine(day, wh.end_time))
            while s + length <= stop and len(out) < limit:
                e = s + length
                if s >= after and not any(bs < e and be > s for bs, be in busy):
                    out.append(s)
                s = e
        day += timedelta(days=1)
    return out


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
    """The provider's next 90 days for the iCalendar feed."""
    now = timezone.now()
    return calendar(
        actor=actor,
        start=now - timedelta(days=7),
        end=now + timedelta(days=90),
        provider_ids=[provider.pk],
        request=request,
    )


# ------------------------------------------------------------------ home page
def home_panels(*, actor) -> list[dict]:
    """The home page's work lists by role: front desk -> today's day list; clinician -> today's patients and
    unsigned notes; nurse -> today's arrivals. Records one list event per panel naming the patients shown."""
    user_roles = roles.user_roles(actor)
    panels: list[dict] = []
    start, end = day_bounds(timezone.localdate())
    if roles.Role.FRONT_DESK in user_roles:
        items = [i for i in calendar(actor=actor, start=start, end=end) if i.visible]
        panels.append(
            {"title": "Today's appointments", "template": "encounters/_panel_day.html", "rows": items}
        )
    if roles.Role.CLINICIAN in user_roles:
        items = [i for i in calendar(actor=actor, start=start, end=end, provider_ids=[actor.pk]) if i.visible]
        panels.append(
            {"title": "Your patients today", "template": "encounters/_panel_day.html", "rows": items}
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
        items = [
            i
            for i in calendar(actor=actor, start=start, end=end)
            if i.visible
            and i.appointment.status
            in (AppointmentStatus.ARRIVED, AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_ROOM)
        ]
        panels.append({"title": "Arrivals", "template": "encounters/_panel_day.html", "rows": items})
    return panels
