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
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from audit import categories
from audit.models import Action
from audit.services import access_record
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Colour,
    Location,
    Modality,
    Room,
    Series,
    WaitlistEntry,
    WorkingHours,
)
from scheduling.recurrence import aware

from . import cvx, vitals
from .models import (
    Addendum,
    Allergy,
    AllergyCategory,
    AllergyCriticality,
    Encounter,
    EncounterStatus,
    EncounterType,
    Icd10Code,
    Immunization,
    Interpretation,
    MedicationStatement,
    MedicationStatus,
    Note,
    NoteStatus,
    Observation,
    ObservationCategory,
    Problem,
    VitalSigns,
)
from .notes import note_hash

# (name, minutes, colour, modality, encounter type)
TYPES = [
    ("Follow-up", 20, Colour.BLUE, Modality.IN_PERSON, EncounterType.OFFICE),
    ("New patient", 40, Colour.GREEN, Modality.IN_PERSON, EncounterType.OFFICE),
    ("Annual wellness", 40, Colour.AMBER, Modality.IN_PERSON, EncounterType.WELLNESS),
    ("Video visit", 20, Colour.PURPLE, Modality.VIDEO, EncounterType.TELEHEALTH),
    ("Urgent same-day", 20, Colour.GREY, Modality.IN_PERSON, EncounterType.URGENT),
]

# The codes the demo uses (ICD-10-CM 2026 descriptions), inserted if the full list is not loaded.
ICD10 = {
    "I10": "Essential (primary) hypertension",
    "E11.9": "Type 2 diabetes mellitus without complications",
    "E11.65": "Type 2 diabetes mellitus with hyperglycemia",
    "E78.5": "Hyperlipidemia, unspecified",
    "E78.00": "Pure hypercholesterolemia, unspecified",
    "E66.9": "Obesity, unspecified",
    "E03.9": "Hypothyroidism, unspecified",
    "J45.909": "Unspecified asthma, uncomplicated",
    "J44.9": "Chronic obstructive pulmonary disease, unspecified",
    "J06.9": "Acute upper respiratory infection, unspecified",
    "J02.9": "Acute pharyngitis, unspecified",
    "J30.9": "Allergic rhinitis, unspecified",
    "K21.9": "Gastro-esophageal reflux disease without esophagitis",
    "F32.A": "Depression, unspecified",
    "F41.1": "Generalized anxiety disorder",
    "F41.9": "Anxiety disorder, unspecified",
    "G43.909": "Migraine, unspecified, not intractable, without status migrainosus",
    "G47.33": "Obstructive sleep apnea (adult) (pediatric)",
    "M54.50": "Low back pain, unspecified",
    "M17.11": "Unilateral primary osteoarthritis, right knee",
    "M19.90": "Unspecified osteoarthritis, unspecified site",
    "M81.0": "Age-related osteoporosis without current pathological fracture",
    "N18.3": "Chronic kidney disease, stage 3 (moderate)",
    "N39.0": "Urinary tract infection, site not specified",
    "I48.91": "Unspecified atrial fibrillation",
    "I25.10": "Atherosclerotic heart disease of native coronary artery without angina pectoris",
    "I50.9": "Heart failure, unspecified",
    "D64.9": "Anemia, unspecified",
    "E55.9": "Vitamin D deficiency, unspecified",
    "L20.9": "Atopic dermatitis, unspecified",
    "L70.0": "Acne vulgaris",
    "H66.90": "Otitis media, unspecified, unspecified ear",
    "R51.9": "Headache, unspecified",
    "R05.9": "Cough, unspecified",
    "Z00.00": "Encounter for general adult medical examination without abnormal findings",
    "Z00.129": "Encounter for routine child health examination without abnormal findings",
    "Z23": "Encounter for immunization",
    "Z79.01": "Long term (current) use of anticoagulants",
    "Z72.0": "Tobacco use",
    "F17.210": "Nicotine dependence, cigarettes, uncomplicated",
}
# Chronic conditions by age band: a toddler does not get type 2 diabetes, a teenager not osteoporosis.
CHILD_CONDITIONS = ["J45.909", "L20.9", "J30.9", "H66.90"]
TEEN_CONDITIONS = ["J45.909", "L70.0", "J30.9", "F41.1", "F32.A", "G43.909"]
ADULT_CONDITIONS = [
    "I10",
    "E11.9",
    "E78.5",
    "E66.9",
    "E03.9",
    "J45.909",
    "K21.9",
    "F32.A",
    "F41.1",
    "G43.909",
    "M54.50",
    "J30.9",
    "E55.9",
    "G47.33",
    "F17.210",
]
OLDER_CONDITIONS = ADULT_CONDITIONS + [
    "M17.11",
    "M19.90",
    "M81.0",
    "I48.91",
    "N18.3",
    "I25.10",
    "I50.9",
    "J44.9",
]


def conditions_for_age(age: int) -> list[str]:
    if age < 12:
        return CHILD_CONDITIONS
    if age < 18:
        return TEEN_CONDITIONS
    return ADULT_CONDITIONS if age < 65 else OLDER_CONDITIONS


# Childhood schedule (CDC, simplified): (age in months, CVX code).
CHILD_VACCINES = [
    (0, "08"),
    (2, "20"),
    (2, "10"),
    (2, "49"),
    (2, "133"),
    (2, "116"),
    (4, "20"),
    (4, "10"),
    (4, "49"),
    (4, "133"),
    (4, "116"),
    (6, "20"),
    (6, "133"),
    (6, "116"),
    (12, "03"),
    (12, "21"),
    (12, "83"),
    (15, "20"),
    (18, "83"),
    (48, "03"),
    (48, "21"),
    (48, "20"),
    (48, "10"),
    (132, "115"),
    (132, "165"),
    (132, "114"),
    (192, "114"),
]

# Laboratory tests: (LOINC, display, unit, low, high, normal range to draw from, abnormal range).
LABS = {
    "glucose": ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, (76, 98), (128, 215)),
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, (4.6, 5.5), (6.8, 9.4)),
    "cholesterol": (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        None,
        200,
        (150, 195),
        (212, 278),
    ),
    "hemoglobin": (
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        "g/dL",
        12.0,
        17.5,
        (12.6, 16.4),
        (9.6, 11.6),
    ),
}

# (substance, category, criticality, reaction, RxNorm ingredient)
ALLERGENS = [
    ("Penicillin", AllergyCategory.MEDICATION, AllergyCriticality.HIGH, "Hives, facial swelling", "7980"),
    ("Sulfamethoxazole (sulfa)", AllergyCategory.MEDICATION, AllergyCriticality.LOW, "Rash", "10180"),
    ("Peanut", AllergyCategory.FOOD, AllergyCriticality.HIGH, "Anaphylaxis", ""),
    ("Codeine", AllergyCategory.MEDICATION, AllergyCriticality.LOW, "Nausea, vomiting", "2670"),
    ("Latex", AllergyCategory.ENVIRONMENT, AllergyCriticality.LOW, "Contact dermatitis", ""),
    ("Shellfish", AllergyCategory.FOOD, AllergyCriticality.HIGH, "Throat tightness", ""),
]

# (name, dose, RxNorm RXCUI where the reference list has it)
MEDS = [
    ("Lisinopril 10 MG Oral Tablet", "1 tablet daily", ""),
    ("Amlodipine 5 MG Oral Tablet", "1 tablet daily", "197361"),
    ("Metformin hydrochloride 500 MG Oral Tablet", "1 tablet twice daily with meals", ""),
    ("Simvastatin 20 MG Oral Tablet", "1 tablet at bedtime", "312961"),
    ("Omeprazole 20 MG Delayed Release Oral Capsule", "1 capsule before breakfast", "198051"),
    ("Levothyroxine Sodium 0.05 MG Oral Tablet", "1 tablet every morning", ""),
    ("Sertraline 50 MG Oral Tablet", "1 tablet daily", ""),
    ("Acetaminophen 325 MG Oral Tablet", "2 tablets every 6 hours as needed", "313782"),
    ("Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "2 puffs every 4-6 hours as needed", "745679"),
    ("Vitamin D3 1000 UNT Oral Tablet", "1 tablet daily", ""),
]
IBUPROFEN = ("Ibuprofen 600 MG Oral Tablet", "1 tablet three times daily with food", "197806")

# reason -> (subjective, objective, assessment, plan)
VISITS = {
    "Blood pressure follow-up": (
        "Home readings mostly 130s/80s. Taking medication daily. No headache, chest pain or dyspnoea.",
        "Alert, well. Heart regular, no murmur. Lungs clear. No ankle oedema.",
        "Essential hypertension.",
        "Continue current dose. Low-salt diet reviewed. Recheck in 3 months with BMP.",
    ),
    "Diabetes review": (
        "Checks glucose twice weekly, fasting 110-150. No hypoglycaemia. Feet fine.",
        "Monofilament sensation intact both feet. No ulcers. Pulses present.",
        "Type 2 diabetes, fair control.",
        "HbA1c and lipid panel today. Continue metformin. Diabetic eye exam referral.",
    ),
    "Cough and sore throat": (
        "Three days of sore throat, dry cough, runny nose. No fever at home. Sick contacts at work.",
        "Pharynx mildly erythematous, no exudate. Tympanic membranes normal. Lungs clear.",
        "Viral upper respiratory infection.",
        "Fluids, rest, acetaminophen as needed. Return if fever or breathing difficulty.",
    ),
    "Annual physical": (
        "No complaints. Exercises twice a week. Non-smoker. Sleeps 7 hours.",
        "Normal examination. Weight stable.",
        "Routine adult health examination.",
        "Age-appropriate screening ordered. Influenza vaccine given. Return in one year.",
    ),
    "Low back pain": (
        "Lower back pain for 2 weeks after lifting boxes. No leg weakness, no bladder symptoms.",
        "Paraspinal tenderness L4-L5. Straight-leg raise negative. Strength and reflexes normal.",
        "Mechanical low back pain, no red flags.",
        "Stay active, heat, physiotherapy exercises handout. Review in 4 weeks if not improving.",
    ),
    "Medication review": (
        "Reviews current medicines; no side effects reported. Adherent.",
        "Well appearing. Vitals as recorded.",
        "Medications reconciled.",
        "No changes. Repeat prescriptions as due.",
    ),
    "Anxiety follow-up": (
        "Sleeping better, fewer worry episodes since starting therapy. Mood fair.",
        "Calm, good eye contact, speech normal. No suicidal ideation.",
        "Generalized anxiety disorder, improving.",
        "Continue sertraline 50 mg and weekly therapy. Review in 6 weeks.",
    ),
}
REASONS = list(VISITS)

SLOT = timedelta(minutes=20)
DAY_SLOTS = 27  # 08:00-17:00
LUNCH = {12, 13, 14}  # 12:00-13:00 stays free


def _types() -> dict[str, AppointmentType]:
    out = {}
    for name, minutes, colour, modality, etype in TYPES:
        out[name] = AppointmentType.objects.update_or_create(
            name=name,
            defaults={
                "duration_minutes": minutes,
                "colour": colour,
                "modality": modality,
                "encounter_type": etype,
            },
        )[0]
    return out


def _icd10_ensure() -> None:
    """Load the whole ICD-10-CM list when the table is empty (a few seconds), else add the demo's codes."""
    if not Icd10Code.objects.exists():
        from core.refdata import iter_icd10cm

        from .findings import icd10_load

        icd10_load(iter_icd10cm())
    Icd10Code.objects.bulk_create(
        [Icd10Code(code=c, description=d) for c, d in ICD10.items()], ignore_conflicts=True
    )


def _age(patient, today: date) -> int:
    b = patient.birth_date
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def _at_noon(day: date, rng) -> datetime:
    return aware(datetime.combine(day, time(rng.randint(8, 16), rng.choice([0, 15, 30, 45]))))


def _months_after(birth: date, months: int) -> date:
    y, m = divmod(birth.month - 1 + months, 12)
    return date(birth.year + y, m + 1, min(birth.day, 28))


def _immunizations(rng, patients, providers, owner, today: date) -> list[Immunization]:
    """The childhood schedule up to each child's age; for adults an influenza vaccine most autumns, Tdap every
    ten years, a COVID-19 vaccine, and zoster from 50 and pneumococcal from 65."""
    out = []

    def shot(patient, day: date, code: str):
        if patient.birth_date <= day <= today:
            out.append(
                Immunization(
                    patient=patient,
                    vaccine_code=code,
                    vaccine_display=cvx.CVX[code],
                    occurrence=_at_noon(day, rng),
                    lot_number=f"{rng.choice('ABCDEFGHJK')}{rng.randint(1000, 9999)}",
                    site="left deltoid" if _age(patient, day) >= 3 else "right thigh",
                    route="intramuscular" if code not in ("116", "119") else "oral",
                    performer=providers[owner[patient.pk]],
                )
            )

    for patient in patients:
        age = _age(patient, today)
        if age < 18:
            for months, code in CHILD_VACCINES:
                shot(
                    patient,
                    _months_after(patient.birth_date, months) + timedelta(days=rng.randint(0, 20)),
                    code,
                )
            continue
        for years_ago in range(3):
            if rng.random() < (0.8 if age >= 65 else 0.55):
                autumn = date(today.year - years_ago - (today.month < 10), 10, rng.randint(1, 28))
                shot(patient, autumn, "197" if age >= 65 else "150")
        shot(patient, today - timedelta(days=rng.randint(200, 3400)), "115")
        if rng.random() < 0.7:
            shot(patient, today - timedelta(days=rng.randint(60, 700)), "208")
        if age >= 50 and rng.random() < 0.6:
            shot(patient, today - timedelta(days=rng.randint(100, 1500)), "187")
        if age >= 65 and rng.random() < 0.7:
            shot(patient, today - timedelta(days=rng.randint(100, 1500)), "216")
    return out


def _lab_results(rng, patients, diagnoses: dict, today: date) -> list[Observation]:
    """Glucose, HbA1c, total cholesterol and haemoglobin for adults, one to three times over two years; values
    drawn in range, or out of range for the conditions on the problem list (diabetes, hyperlipidaemia)."""
    out = []
    for patient in patients:
        age = _age(patient, today)
        if age < 18 or rng.random() < 0.2:
            continue
        codes = diagnoses.get(patient.pk, set())
        abnormal = {
            "glucose": "E11.9" in codes,
            "hba1c": "E11.9" in codes,
            "cholesterol": bool(codes & {"E78.5", "E78.00"}),
            "hemoglobin": rng.random() < 0.07,
        }
        for _ in range(rng.randint(1, 3)):
            when = _at_noon(today - timedelta(days=rng.randint(10, 720)), rng)
            for key, (loinc, display, unit, low, high, normal, high_range) in LABS.items():
                if key == "hba1c" and not abnormal["hba1c"] and rng.random() < 0.6:
                    continue  # HbA1c is checked mostly in diabetics
                lo, hi = high_range if abnormal[key] else normal
                value = Decimal(str(round(rng.uniform(lo, hi), 1 if unit in ("%", "g/dL") else 0)))
                flag = (
                    Interpretation.HIGH
                    if high is not None and value > Decimal(str(high))
                    else Interpretation.LOW
                    if low is not None and value < Decimal(str(low))
                    else Interpretation.NORMAL
                )
                out.append(
                    Observation(
                        patient=patient,
                        category=ObservationCategory.LABORATORY,
                        loinc_code=loinc,
                        display=display,
                        value_quantity=value,
                        value_unit=unit,
                        reference_low=Decimal(str(low)) if low is not None else None,
                        reference_high=Decimal(str(high)),
                        interpretation=flag,
                        effective=when,
                        issued=when + timedelta(hours=rng.randint(4, 30)),
                    )
                )
    return out


def _vitals_for(rng, patient, at: datetime, *, hypertensive: bool, encounter) -> VitalSigns:
    age = max(0, (at.date() - patient.birth_date).days // 365)
    if age < 18:
        height = Decimal(min(175, 55 + age * 7))
        weight = Decimal(str(round(4 + age * 3.2 + rng.uniform(-1, 2), 1)))
        sbp, dbp, hr = rng.randint(95, 118), rng.randint(55, 75), rng.randint(75, 120)
    else:
        height = Decimal(rng.randint(152, 192))
        weight = Decimal(str(round(rng.uniform(52, 112), 1)))
        base = 150 if hypertensive else 122
        sbp = rng.randint(base - 14, base + 16)
        dbp = rng.randint(max(55, sbp - 70), min(sbp - 25, 102))
        hr = rng.randint(56, 98) if rng.random() > 0.06 else rng.randint(101, 118)
    temp = Decimal(str(round(rng.uniform(36.2, 37.4) if rng.random() > 0.08 else rng.uniform(38.0, 39.2), 1)))
    spo2 = rng.randint(95, 99) if rng.random() > 0.06 else rng.randint(90, 93)
    vs = VitalSigns(
        patient=patient,
        encounter=encounter,
        taken_at=at + timedelta(minutes=5),
        systolic=sbp,
        diastolic=dbp,
        heart_rate=hr,
        resp_rate=rng.randint(12, 20),
        temperature=temp,
        weight=weight,
        height=height,
        spo2=spo2,
    )
    vs.bmi = vitals.bmi(vs.weight, vs.height)
    return vs


def _note_signed(enc: Encounter, reason: str, when: datetime) -> Note:
    s, o, a, p = VISITS.get(reason, VISITS["Medication review"])
    note = Note(
        encounter=enc,
        patient_id=enc.patient_id,
        author_id=enc.provider_id,
        subjective=s,
        objective=o,
        assessment=a,
        plan=p,
        status=NoteStatus.SIGNED,
        version=2,
        signed_by_id=enc.provider_id,
        signed_at=when,
    )
    note.content_hash = note_hash(note)
    return note


def demo_build(*, patients, providers, front_desk, rng) -> None:
    today = timezone.localdate()
    now = timezone.now()
    main = Location.objects.get_or_create(name="Main clinic", defaults={"address": "1 Main St, Springfield"})[
        0
    ]
    east = Location.objects.get_or_create(
        name="Eastside office", defaults={"address": "40 East Ave, Springfield"}
    )[0]
    rooms = [Room.objects.get_or_create(location=main, name=f"Room {i}")[0] for i in range(1, 5)]
    for name in ("Room A", "Room B"):
        Room.objects.get_or_create(location=east, name=name)
    types = _types()
    _icd10_ensure()

    hours = [
        WorkingHours(
            provider=p,
            location=main,
            weekday=d,
            start_time=time(8),
            end_time=time(17),
            effective_from=today - timedelta(days=365),
        )
        for p in providers
        if not WorkingHours.objects.filter(provider=p).exists()
        for d in range(5)
    ]
    WorkingHours.objects.bulk_create(hours)

    alive = [p for p in patients if not p.deceased_date]
    owner = {p.pk: i % len(providers) for i, p in enumerate(patients)}
    # demo_data gives patient i to clinician i % 3: each provider sees their own panel.
    panels = [
        [p for i, p in enumerate(patients) if i % len(providers) == k and not p.deceased_date]
        for k in range(len(providers))
    ]
    touched: set = set()
    appts: list[Appointment] = []
    encounters: list[Encounter] = []
    notes: list[Note] = []
    vitals_rows: list[VitalSigns] = []
    series_rows: list[Series] = []
    busy = {
        (k, d): set() for k in range(len(providers)) for d in range(-21, 22)
    }  # (provider, day offset) -> slots
    hypertensive = {
        p.pk for p in alive if _age(p, today) >= 18 and rng.random() < (0.5 if _age(p, today) >= 65 else 0.25)
    }

    def start_at(day: date, slot: int) -> datetime:
        return aware(datetime.combine(day, time(8)) + slot * SLOT)

    def status_for(day: date, order: int, total: int) -> str:
        if day < today:
            r = rng.random()
            return (
                AppointmentStatus.NO_SHOW
                if r < 0.05
                else AppointmentStatus.CANCELLED
                if r < 0.1
                else (AppointmentStatus.DONE)
            )
        if day > today:
            return AppointmentStatus.CANCELLED if rng.random() < 0.05 else AppointmentStatus.SCHEDULED
        # Today: the morning is done, then one patient in each flow state, the afternoon still to come.
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

    def book(k, patient, atype, day, slot, *, status, series=None, reason=""):
        provider = providers[k]
        start = start_at(day, slot)
        a = Appointment(
            patient=patient,
            provider=provider,
            appointment_type=atype,
            location=main,
            room=rooms[k],
            start=start,
            end=start + timedelta(minutes=atype.duration_minutes),
            status=status,
            reason=reason,
            series=series,
            occurrence_start=start if series else None,
            created_by=front_desk,
            cancel_reason="Patient called to cancel" if status == AppointmentStatus.CANCELLED else "",
        )
        appts.append(a)
        touched.add(patient.pk)
        if status in (
            AppointmentStatus.DONE,
            AppointmentStatus.WITH_PROVIDER,
            AppointmentStatus.IN_ROOM,
            AppointmentStatus.CHECKED_IN,
        ):
            finished = status == AppointmentStatus.DONE
            enc = Encounter(
                patient=patient,
                appointment=a,
                provider=provider,
                location=main,
                encounter_type=atype.encounter_type,
                reason=reason or atype.name,
                status=EncounterStatus.FINISHED if finished else EncounterStatus.IN_PROGRESS,
                start=start,
                end=a.end if finished else None,
            )
            encounters.append(enc)
            if status != AppointmentStatus.CHECKED_IN:
                vitals_rows.append(
                    _vitals_for(rng, patient, start, hypertensive=patient.pk in hypertensive, encounter=enc)
                )
            if finished:
                notes.append(_note_signed(enc, reason, a.end + timedelta(minutes=rng.randint(5, 240))))
            elif status == AppointmentStatus.WITH_PROVIDER:
                s, o, _, _ = VISITS.get(reason, VISITS["Medication review"])
                notes.append(
                    Note(encounter=enc, patient_id=patient.pk, author=provider, subjective=s, objective=o)
                )
        return a

    # Weekly series: two patients per provider, Tuesdays and Thursdays at 16:00, from last week on.
    monday = today - timedelta(days=today.weekday())
    for k, panel in enumerate(panels):
        for j, patient in enumerate(panel[:2]):
            first = monday - timedelta(days=7) + timedelta(days=1 + 2 * j)
            dtstart = start_at(first, 24)
            s = Series(
                patient=patient,
                provider=providers[k],
                appointment_type=types["Follow-up"],
                location=main,
                room=rooms[k],
                rrule="FREQ=WEEKLY;COUNT=4",
                dtstart=dtstart,
                materialised_until=dtstart + timedelta(weeks=3),
                fully_materialised=True,
                reason="Blood pressure follow-up",
                created_by=front_desk,
            )
            series_rows.append(s)
            for w in range(4):
                day = first + timedelta(weeks=w)
                busy[(k, (day - today).days)].add(24)
                st = status_for(day, 99, 100) if day != today else AppointmentStatus.SCHEDULED
                if st == AppointmentStatus.CANCELLED:
                    st = AppointmentStatus.DONE if day < today else AppointmentStatus.SCHEDULED
                book(k, patient, types["Follow-up"], day, 24, status=st, series=s, reason=s.reason)

    # Two weeks around today, weekdays: each provider's day about two-thirds full.
    for offset in range(-7, 8):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5 and day != today:
            continue
        for k, panel in enumerate(panels):
            if not panel:
                continue
            plan = []
            slot = 0
            while slot < DAY_SLOTS:
                atype = rng.choice(
                    [types["Follow-up"]] * 4
                    + [
                        types["New patient"],
                        types["Annual wellness"],
                        types["Video visit"],
                        types["Urgent same-day"],
                    ]
                )
                need = set(range(slot, slot + atype.duration_minutes // 20))
                if max(need) >= DAY_SLOTS or need & (LUNCH | busy[(k, offset)]) or rng.random() < 0.3:
                    slot += 1
                    continue
                busy[(k, offset)] |= need
                plan.append((slot, atype))
                slot = max(need) + 1
            for order, (slot, atype) in enumerate(plan):
                reason = "Annual physical" if atype.name == "Annual wellness" else rng.choice(REASONS)
                book(
                    k,
                    rng.choice(panel),
                    atype,
                    day,
                    slot,
                    status=status_for(day, order, len(plan)),
                    reason=reason,
                )

    # History: a few past encounters for most patients, 30+ for three of dr. House's patients.
    # Long histories of hypertension, diabetes and hyperlipidaemia: adults of 40 and over.
    long_history = (
        [p for p in panels[0] if _age(p, today) >= 40] or [p for p in panels[0] if _age(p, today) >= 18]
    )[:3]
    for patient in alive:
        k = owner[patient.pk]
        n = rng.randint(32, 36) if patient in long_history else rng.choice([0, 1, 1, 2, 2, 3, 4])
        for i in range(n):
            days_ago = (i + 1) * 33 + rng.randint(0, 20) if patient in long_history else rng.randint(20, 730)
            at = aware(
                datetime.combine(
                    today - timedelta(days=days_ago), time(rng.randint(8, 16), rng.choice([0, 20, 40]))
                )
            )
            reason = (
                "Blood pressure follow-up"
                if patient.pk in hypertensive and rng.random() < 0.6
                else (rng.choice(REASONS))
            )
            enc = Encounter(
                patient=patient,
                provider=providers[k],
                location=main,
                reason=reason,
                encounter_type=EncounterType.WELLNESS
                if reason == "Annual physical"
                else EncounterType.OFFICE,
                status=EncounterStatus.FINISHED,
                start=at,
                end=at + timedelta(minutes=20),
            )
            encounters.append(enc)
            vitals_rows.append(
                _vitals_for(rng, patient, at, hypertensive=patient.pk in hypertensive, encounter=enc)
            )
            notes.append(_note_signed(enc, reason, at + timedelta(minutes=rng.randint(30, 300))))
            touched.add(patient.pk)

    Series.objects.bulk_create(series_rows)
    Appointment.objects.bulk_create(appts)
    Encounter.objects.bulk_create(encounters)
    VitalSigns.objects.bulk_create(vitals_rows)
    Note.objects.bulk_create(notes)
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

    # Problems, allergies (the banner is kept in step), medications.
    problems, allergies, meds = [], [], []
    diagnoses: dict = {}
    ibuprofen_left = 4
    for patient in alive:
        age = _age(patient, today)
        adult = age >= 18
        pool = conditions_for_age(age)
        codes = (["I10"] if patient.pk in hypertensive else []) + rng.sample(
            pool, rng.choice([0, 1, 1, 2, 3])
        )
        if patient in long_history:
            codes += ["I10", "E11.9", "E78.5"]
        lived = max(1, (today - patient.birth_date).days - 60)
        for code in dict.fromkeys(codes):
            problems.append(
                Problem(
                    patient=patient,
                    code_id=code,
                    description=ICD10[code],
                    # After birth (a few months at least for a child), at least two months ago.
                    onset_date=today - timedelta(days=rng.randint(min(60, lived), min(3000, lived))),
                )
            )
        diagnoses[patient.pk] = set(codes)
        r = rng.random()
        if r < 0.35:
            patient.allergy_status, patient.allergy_summary = "nka", ""
        elif r < 0.7:
            chosen = rng.sample(ALLERGENS, rng.choice([1, 1, 2]))
            for substance, cat, crit, reaction, rxcui in chosen:
                allergies.append(
                    Allergy(
                        patient=patient,
                        substance_text=substance,
                        category=cat,
                        criticality=crit,
                        reaction=reaction,
                        substance_rxcui=rxcui,
                        severity="severe" if crit == AllergyCriticality.HIGH else "mild",
                    )
                )
            chosen.sort(key=lambda a: (a[2] != AllergyCriticality.HIGH, a[0]))
            patient.allergy_status, patient.allergy_summary = "has", ", ".join(a[0] for a in chosen)
        if adult and rng.random() < 0.85:
            for name, dose, rxcui in rng.sample(MEDS, rng.randint(1, 4)):
                meds.append(
                    MedicationStatement(
                        patient=patient,
                        name=name,
                        dose_text=dose,
                        rxcui=rxcui,
                        started_on=today - timedelta(days=rng.randint(30, 1500)),
                    )
                )
            # A few of dr. House's patients take ibuprofen: prescribing warfarin shows the interaction alert.
            if ibuprofen_left and owner[patient.pk] == 0:
                ibuprofen_left -= 1
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
    Problem.objects.bulk_create(problems)
    Allergy.objects.bulk_create(allergies)
    MedicationStatement.objects.bulk_create(meds)
    shots = _immunizations(rng, alive, providers, owner, today)
    Immunization.objects.bulk_create(shots)
    labs = _lab_results(rng, alive, diagnoses, today)
    Observation.objects.bulk_create(labs)
    if alive:
        type(alive[0]).objects.bulk_update(alive, ["allergy_status", "allergy_summary"])

    # Waitlist: patients hoping for an earlier slot with dr. House and dr. Grey.
    waiting = []
    for k in range(min(2, len(providers))):
        for patient in panels[k][-2:]:
            waiting.append(
                WaitlistEntry(
                    patient=patient,
                    provider=providers[k],
                    appointment_type=types["Follow-up"],
                    earliest=today,
                    latest=today + timedelta(days=14),
                    created_by=front_desk,
                    note="Prefers mornings",
                )
            )
    WaitlistEntry.objects.bulk_create(waiting)

    access_record(
        actor=None,
        action=Action.CREATE,
        category=categories.ENCOUNTERS,
        channel="command",
        patient_ids=sorted(touched, key=str),
        detail={
            "demo_data": len(appts)
            + len(encounters)
            + len(notes)
            + len(vitals_rows)
            + len(problems)
            + len(allergies)
            + len(meds)
            + len(shots)
            + len(labs)
            + len(waiting),
            "at": now.isoformat(),
        },
    )
