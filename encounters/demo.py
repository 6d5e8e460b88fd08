"""Demo data for scheduling and the clinical record, called by `manage.py demo_data` inside its transaction.

Two weeks of appointments around today (weekly series, cancellations, no-shows, today's list in every flow state),
a waitlist, encounters with signed SOAP notes and vitals, problems fitting each patient's age, allergies,
medications, immunizations by age (childhood schedule, adult boosters) and laboratory results with realistic
reference ranges; three adults with a long history (30+ encounters) to show the paged timeline. Rows are written
with bulk_create (no per-row audit events, no reminders queued), so one explicit access event names the patients
touched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from audit import categories
from audit.models import Action
from audit.services import access_record
from core.refdata import iter_icd10cm
from scheduling import demo as schedule_demo
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, Location, Room, Series
from scheduling.recurrence import aware

from .demo_content import (
    ALLERGENS,
    IBUPROFEN,
    ICD10,
    MEDS,
    NOTE_TEMPLATES,
    REASONS,
    VISIT_DIAGNOSIS,
    VISITS,
    age_on,
    conditions_for_age,
    immunizations_draw,
    lab_results_draw,
    note_signed,
    vitals_draw,
)
from .findings import icd10_load
from .models import (
    Addendum,
    Allergy,
    AllergyCriticality,
    Encounter,
    EncounterDiagnosis,
    EncounterStatus,
    EncounterType,
    Icd10Code,
    Immunization,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteStatus,
    NoteTemplate,
    Observation,
    Problem,
    VitalSigns,
)


def _icd10_ensure() -> None:
    """Load the whole ICD-10-CM list when the table is empty (a few seconds), else add the demo's codes."""
    if not Icd10Code.objects.exists():
        icd10_load(iter_icd10cm())
    Icd10Code.objects.bulk_create(
        [Icd10Code(code=c, description=d) for c, d in ICD10.items()], ignore_conflicts=True
    )


def _note_templates_ensure() -> None:
    """One SOAP template per visit type (kept if the practice already has one of that name)."""
    for etype, (name, s, o, a, p) in NOTE_TEMPLATES.items():
        NoteTemplate.objects.get_or_create(
            name=name,
            defaults={"encounter_type": etype, "subjective": s, "objective": o, "assessment": a, "plan": p},
        )


# Flow states that have opened the visit's encounter (checking in opens it).
_OPENED = (
    AppointmentStatus.DONE,
    AppointmentStatus.WITH_PROVIDER,
    AppointmentStatus.IN_ROOM,
    AppointmentStatus.CHECKED_IN,
)


@dataclass
class _Visits:
    """The visits the demo books and what each records, gathered for bulk_create. One random stream (`rng`), drawn
    in a fixed order: the same seed gives the same clinic."""

    rng: object
    today: date
    providers: list
    front_desk: object
    main: Location
    rooms: list[Room]
    hypertensive: set
    touched: set = field(default_factory=set)
    appts: list[Appointment] = field(default_factory=list)
    encounters: list[Encounter] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    vitals_rows: list[VitalSigns] = field(default_factory=list)
    diagnoses: list[EncounterDiagnosis] = field(default_factory=list)
    series_rows: list[Series] = field(default_factory=list)

    def status_for(self, day: date, order: int, total: int) -> str:
        if day < self.today:
            r = self.rng.random()
            return (
                AppointmentStatus.NO_SHOW
                if r < 0.05
                else AppointmentStatus.CANCELLED
                if r < 0.1
                else (AppointmentStatus.DONE)
            )
        if day > self.today:
            return AppointmentStatus.CANCELLED if self.rng.random() < 0.05 else AppointmentStatus.SCHEDULED
        return _status_today(order, total)

    def book(self, k, patient, atype, day, slot, *, status, series=None, reason="") -> Appointment:
        provider = self.providers[k]
        start = schedule_demo.slot_start(day, slot)
        a = Appointment(
            patient=patient,
            provider=provider,
            appointment_type=atype,
            location=self.main,
            room=self.rooms[k],
            start=start,
            end=start + timedelta(minutes=atype.duration_minutes),
            status=status,
            reason=reason,
            series=series,
            occurrence_start=start if series else None,
            created_by=self.front_desk,
            cancel_reason="Patient called to cancel" if status == AppointmentStatus.CANCELLED else "",
        )
        self.appts.append(a)
        self.touched.add(patient.pk)
        if status in _OPENED:
            self._visit(a, patient, provider, atype, status=status, reason=reason)
        return a

    def _visit(self, a: Appointment, patient, provider, atype, *, status: str, reason: str) -> None:
        """The encounter a checked-in appointment opened: vitals once roomed, the note (signed when done, a draft
        while with the provider)."""
        finished = status == AppointmentStatus.DONE
        enc = Encounter(
            patient=patient,
            appointment=a,
            provider=provider,
            location=self.main,
            encounter_type=atype.encounter_type,
            reason=reason or atype.name,
            status=EncounterStatus.FINISHED if finished else EncounterStatus.IN_PROGRESS,
            start=a.start,
            end=a.end if finished else None,
        )
        self.encounters.append(enc)
        if status != AppointmentStatus.CHECKED_IN:
            self.vitals_rows.append(
                vitals_draw(
                    self.rng, patient, a.start, hypertensive=patient.pk in self.hypertensive, encounter=enc
                )
            )
        if finished:
            self.notes.append(note_signed(enc, reason, a.end + timedelta(minutes=self.rng.randint(5, 240))))
            self._diagnose(enc, reason, patient)
        elif status == AppointmentStatus.WITH_PROVIDER:
            s, o, _, _ = VISITS.get(reason, VISITS["Medication review"])
            self.notes.append(
                Note(encounter=enc, patient_id=patient.pk, author=provider, subjective=s, objective=o)
            )

    def past_visit(self, k, patient, at: datetime, reason: str) -> None:
        """A finished visit of the patient's history (no appointment), with vitals and a signed note."""
        enc = Encounter(
            patient=patient,
            provider=self.providers[k],
            location=self.main,
            reason=reason,
            encounter_type=EncounterType.WELLNESS if reason == "Annual physical" else EncounterType.OFFICE,
            status=EncounterStatus.FINISHED,
            start=at,
            end=at + timedelta(minutes=20),
        )
        self.encounters.append(enc)
        self.vitals_rows.append(
            vitals_draw(self.rng, patient, at, hypertensive=patient.pk in self.hypertensive, encounter=enc)
        )
        self.notes.append(note_signed(enc, reason, at + timedelta(minutes=self.rng.randint(30, 300))))
        self._diagnose(enc, reason, patient)
        self.touched.add(patient.pk)

    def _diagnose(self, enc: Encounter, reason: str, patient) -> None:
        """A finished visit's primary diagnosis (a child's physical has its own code)."""
        code = VISIT_DIAGNOSIS.get(reason, "Z79.899")
        if code == "Z00.00" and age_on(patient, enc.start.date()) < 18:
            code = "Z00.129"
        self.diagnoses.append(EncounterDiagnosis(encounter=enc, code_id=code, rank=1))

    def save(self) -> None:
        Series.objects.bulk_create(self.series_rows)
        Appointment.objects.bulk_create(self.appts)
        Encounter.objects.bulk_create(self.encounters)
        VitalSigns.objects.bulk_create(self.vitals_rows)
        Note.objects.bulk_create(self.notes)
        EncounterDiagnosis.objects.bulk_create(self.diagnoses)


def _status_today(order: int, total: int) -> str:
    """Today: the morning is done, then one patient in each flow state, the afternoon still to come."""
    done = max(1, int(total * 0.35))
    flow = [
        AppointmentStatus.WITH_PROVIDER,
        AppointmentStatus.IN_ROOM,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.ARRIVED,
    ]
    if order == 1:
        return AppointmentStatus.NO_SHOW
    if order < done:
        return AppointmentStatus.DONE
    if order - done < len(flow):
        return flow[order - done]
    return AppointmentStatus.SCHEDULED


def _book_series(v: _Visits, panels, atype: AppointmentType, busy: dict) -> None:
    """Weekly series: two patients per provider, Tuesdays and Thursdays at 16:00, from last week on."""
    monday = v.today - timedelta(days=v.today.weekday())
    for k, panel in enumerate(panels):
        for j, patient in enumerate(panel[:2]):
            first = monday - timedelta(days=7) + timedelta(days=1 + 2 * j)
            dtstart = schedule_demo.slot_start(first, 24)
            s = Series(
                patient=patient,
                provider=v.providers[k],
                appointment_type=atype,
                location=v.main,
                room=v.rooms[k],
                rrule="FREQ=WEEKLY;COUNT=4",
                dtstart=dtstart,
                materialised_until=dtstart + timedelta(weeks=3),
                fully_materialised=True,
                reason="Blood pressure follow-up",
                created_by=v.front_desk,
            )
            v.series_rows.append(s)
            for w in range(4):
                day = first + timedelta(weeks=w)
                busy[(k, (day - v.today).days)].add(24)
                st = v.status_for(day, 99, 100) if day != v.today else AppointmentStatus.SCHEDULED
                if st == AppointmentStatus.CANCELLED:
                    st = AppointmentStatus.DONE if day < v.today else AppointmentStatus.SCHEDULED
                v.book(k, patient, atype, day, 24, status=st, series=s, reason=s.reason)


def _book_fortnight(v: _Visits, panels, types: dict, busy: dict) -> None:
    """Two weeks around today, weekdays: each provider's day about two-thirds full."""
    for offset in range(-7, 8):
        day = v.today + timedelta(days=offset)
        if day.weekday() >= 5 and day != v.today:
            continue
        for k, panel in enumerate(panels):
            if not panel:
                continue
            plan = schedule_demo.day_plan(v.rng, types, busy[(k, offset)])
            for order, (slot, atype) in enumerate(plan):
                reason = "Annual physical" if atype.name == "Annual wellness" else v.rng.choice(REASONS)
                v.book(
                    k,
                    v.rng.choice(panel),
                    atype,
                    day,
                    slot,
                    status=v.status_for(day, order, len(plan)),
                    reason=reason,
                )


def _book_history(v: _Visits, alive, owner: dict, long_history: list) -> None:
    """A few past encounters for most patients, 30+ for the long histories."""
    rng = v.rng
    for patient in alive:
        k = owner[patient.pk]
        n = rng.randint(32, 36) if patient in long_history else rng.choice([0, 1, 1, 2, 2, 3, 4])
        for i in range(n):
            days_ago = (i + 1) * 33 + rng.randint(0, 20) if patient in long_history else rng.randint(20, 730)
            at = aware(
                datetime.combine(
                    v.today - timedelta(days=days_ago), time(rng.randint(8, 16), rng.choice([0, 20, 40]))
                )
            )
            reason = (
                "Blood pressure follow-up"
                if patient.pk in v.hypertensive and rng.random() < 0.6
                else (rng.choice(REASONS))
            )
            v.past_visit(k, patient, at, reason)


def _addenda(rng, notes: list[Note]) -> list[Addendum]:
    signed = [n for n in notes if n.status == NoteStatus.SIGNED]
    addenda = []
    for note in rng.sample(signed, min(len(signed), max(1, len(signed) // 20))):
        text = rng.choice(
            [
                "Lab results reviewed: within normal limits; patient informed by phone.",
                "Correction: follow-up interval is 6 weeks, not 3 months.",
                "Patient called back: symptoms resolved.",
            ]
        )
        addenda.append(
            Addendum(
                note=note,
                patient_id=note.patient_id,
                author_id=note.author_id,
                text=text,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    Addendum.objects.bulk_create(addenda)
    return addenda


def _problems_for(
    rng, patient, *, today: date, hypertensive: set, long_history: list
) -> tuple[list, list[str]]:
    """Problems fitting the patient's age (hypertension if hypertensive; three chronic ones for a long history)."""
    pool = conditions_for_age(age_on(patient, today))
    codes = (["I10"] if patient.pk in hypertensive else []) + rng.sample(pool, rng.choice([0, 1, 1, 2, 3]))
    if patient in long_history:
        codes += ["I10", "E11.9", "E78.5"]
    lived = max(1, (today - patient.birth_date).days - 60)
    problems = [
        Problem(
            patient=patient,
            code_id=code,
            description=ICD10[code],
            # After birth (a few months at least for a child), at least two months ago.
            onset_date=today - timedelta(days=rng.randint(min(60, lived), min(3000, lived))),
        )
        for code in dict.fromkeys(codes)
    ]
    return problems, codes


def _allergies_for(rng, patient) -> list[Allergy]:
    """No known allergies, one or two allergies (the banner kept in step on the patient), or not yet asked."""
    r = rng.random()
    if r < 0.35:
        patient.allergy_status, patient.allergy_summary = "nka", ""
        return []
    if r >= 0.7:
        return []
    chosen = rng.sample(ALLERGENS, rng.choice([1, 1, 2]))
    allergies = [
        Allergy(
            patient=patient,
            substance_text=substance,
            category=cat,
            criticality=crit,
            reaction=reaction,
            substance_rxcui=rxcui,
            severity="severe" if crit == AllergyCriticality.HIGH else "mild",
        )
        for substance, cat, crit, reaction, rxcui in chosen
    ]
    chosen.sort(key=lambda a: (a[2] != AllergyCriticality.HIGH, a[0]))
    patient.allergy_status, patient.allergy_summary = "has", ", ".join(a[0] for a in chosen)
    return allergies


def _medications_for(rng, patient, *, today: date, ibuprofen: bool) -> list[MedicationStatement]:
    """One to four current medications (ibuprofen too when asked: prescribing warfarin shows the interaction
    alert), sometimes a stopped one."""
    meds = [
        MedicationStatement(
            patient=patient,
            name=name,
            dose_text=dose,
            rxcui=rxcui,
            started_on=today - timedelta(days=rng.randint(30, 1500)),
        )
        for name, dose, rxcui in rng.sample(MEDS, rng.randint(1, 4))
    ]
    if ibuprofen:
        meds.append(
            MedicationStatement(
                patient=patient,
                name=IBUPROFEN[0],
                dose_text=IBUPROFEN[1],
                rxcui=IBUPROFEN[2],
                status=MedicationStatus.ACTIVE,
                started_on=today - timedelta(days=rng.randint(5, 60)),
            )
        )
    if rng.random() < 0.1:
        name, dose, rxcui = rng.choice(MEDS)
        started = today - timedelta(days=rng.randint(400, 900))
        meds.append(
            MedicationStatement(
                patient=patient,
                name=name,
                dose_text=dose,
                rxcui=rxcui,
                status=MedicationStatus.STOPPED,
                started_on=started,
                stopped_on=started + timedelta(days=rng.randint(30, 300)),
            )
        )
    return meds


def _chart_lists(rng, alive, *, today: date, hypertensive: set, long_history: list, owner: dict):
    """Problems, allergies (the banner is kept in step), medications. Returns them and each patient's codes."""
    problems, allergies, meds = [], [], []
    diagnoses: dict = {}
    ibuprofen_left = 4
    for patient in alive:
        adult = age_on(patient, today) >= 18
        rows, codes = _problems_for(
            rng, patient, today=today, hypertensive=hypertensive, long_history=long_history
        )
        problems += rows
        diagnoses[patient.pk] = set(codes)
        allergies += _allergies_for(rng, patient)
        if adult and rng.random() < 0.85:
            # A few of dr. House's patients take ibuprofen.
            ibuprofen = bool(ibuprofen_left) and owner[patient.pk] == 0
            ibuprofen_left -= ibuprofen
            meds += _medications_for(rng, patient, today=today, ibuprofen=ibuprofen)
    Problem.objects.bulk_create(problems)
    Allergy.objects.bulk_create(allergies)
    MedicationStatement.objects.bulk_create(meds)
    return problems, allergies, meds, diagnoses


def _panels(patients, n: int) -> list[list]:
    """demo_data gives patient i to clinician i % 3: each provider sees their own panel (the living ones)."""
    return [[p for i, p in enumerate(patients) if i % n == k and not p.deceased_date] for k in range(n)]


def _hypertensive(rng, alive, today: date) -> set:
    """A quarter of the adults, half of those 65 and over."""
    return {
        p.pk
        for p in alive
        if age_on(p, today) >= 18 and rng.random() < (0.5 if age_on(p, today) >= 65 else 0.25)
    }


def _long_history(panel, today: date) -> list:
    """Long histories of hypertension, diabetes and hyperlipidaemia: three of dr. House's adults of 40 and over."""
    return ([p for p in panel if age_on(p, today) >= 40] or [p for p in panel if age_on(p, today) >= 18])[:3]


def demo_build(*, patients, providers, front_desk, rng) -> None:
    today = timezone.localdate()
    now = timezone.now()
    main, rooms = schedule_demo.clinic_ensure()
    types = schedule_demo.types_ensure()
    _icd10_ensure()
    _note_templates_ensure()
    schedule_demo.working_hours_ensure(providers, main, today)

    alive = [p for p in patients if not p.deceased_date]
    owner = {p.pk: i % len(providers) for i, p in enumerate(patients)}
    panels = _panels(patients, len(providers))
    busy = {(k, d): set() for k in range(len(providers)) for d in range(-21, 22)}  # (provider, day) -> slots
    hypertensive = _hypertensive(rng, alive, today)
    v = _Visits(rng, today, providers, front_desk, main, rooms, hypertensive)
    _book_series(v, panels, types["Follow-up"], busy)
    _book_fortnight(v, panels, types, busy)
    long_history = _long_history(panels[0], today)
    _book_history(v, alive, owner, long_history)
    v.save()
    _addenda(rng, v.notes)

    problems, allergies, meds, diagnoses = _chart_lists(
        rng, alive, today=today, hypertensive=hypertensive, long_history=long_history, owner=owner
    )
    shots = immunizations_draw(rng, alive, providers, owner, today)
    Immunization.objects.bulk_create(shots)
    labs = lab_results_draw(rng, alive, diagnoses, today)
    Observation.objects.bulk_create(labs)
    if alive:
        type(alive[0]).objects.bulk_update(alive, ["allergy_status", "allergy_summary"])
    waiting = schedule_demo.waitlist_build(
        panels=panels, providers=providers, atype=types["Follow-up"], today=today, front_desk=front_desk
    )

    written = [
        v.appts,
        v.encounters,
        v.notes,
        v.vitals_rows,
        v.diagnoses,
        problems,
        allergies,
        meds,
        shots,
        labs,
        waiting,
    ]
    access_record(
        actor=None,
        action=Action.CREATE,
        category=categories.ENCOUNTERS,
        channel="command",
        patient_ids=sorted(v.touched, key=str),
        detail={"demo_data": sum(len(rows) for rows in written), "at": now.isoformat()},
    )
