"""The demo's clinical content: the ICD-10 codes it uses, chronic conditions by age band, the vaccine schedule,
laboratory panels, allergens, medications and the SOAP text of each kind of visit, and the rows drawn from them for
one patient or visit (immunizations, laboratory results, vital signs, a signed note). encounters/demo.py assembles
the clinic from these."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from scheduling.recurrence import aware

from . import cvx, vitals
from .models import (
    AllergyCategory,
    AllergyCriticality,
    Encounter,
    Immunization,
    Interpretation,
    Note,
    NoteStatus,
    Observation,
    ObservationCategory,
    VitalSigns,
)
from .notes import note_hash

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
    "Z79.899": "Other long term (current) drug therapy",
}
# The diagnosis each demo visit reason is linked to (primary), for billing and reporting.
VISIT_DIAGNOSIS = {
    "Blood pressure follow-up": "I10",
    "Diabetes review": "E11.9",
    "Cough and sore throat": "J06.9",
    "Annual physical": "Z00.00",
    "Low back pain": "M54.50",
    "Medication review": "Z79.899",
    "Anxiety follow-up": "F41.1",
}
# SOAP scaffolding offered when a note is started, one per visit type (practice admins edit them).
NOTE_TEMPLATES = {
    "office": (
        "Office visit",
        "Chief complaint:\nHistory of present illness:\nMedications reviewed:",
        "Vitals as recorded.\nExamination:",
        "Assessment:",
        "Plan:\nFollow-up:",
    ),
    "telehealth": (
        "Telehealth visit",
        "Patient consented to a video visit and confirmed identity and location.\nChief complaint:",
        "Observed on video:",
        "Assessment:",
        "Plan:\nReturn precautions given.",
    ),
    "phone": (
        "Telephone encounter",
        "Caller and reason for the call:",
        "Information reviewed:",
        "Assessment:",
        "Advice given:\nCall back if:",
    ),
    "urgent": (
        "Urgent visit",
        "Onset, duration and severity:\nRed-flag symptoms asked about:",
        "Vitals as recorded.\nFocused examination:",
        "Assessment:",
        "Treatment given:\nReturn precautions:",
    ),
    "wellness": (
        "Annual wellness visit",
        "Interval history:\nDiet, exercise, sleep:\nTobacco, alcohol:",
        "Vitals and BMI as recorded.\nComplete examination:",
        "Routine health examination.",
        "Screening due:\nImmunizations due:\nReturn in one year.",
    ),
    "home": (
        "Home visit",
        "Who is present at home:\nConcerns:",
        "Home safety and examination:",
        "Assessment:",
        "Plan:\nServices arranged:",
    ),
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


def age_on(patient, today: date) -> int:
    b = patient.birth_date
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def at_daytime(day: date, rng) -> datetime:
    return aware(datetime.combine(day, time(rng.randint(8, 16), rng.choice([0, 15, 30, 45]))))


def months_after(birth: date, months: int) -> date:
    y, m = divmod(birth.month - 1 + months, 12)
    return date(birth.year + y, m + 1, min(birth.day, 28))


def immunizations_draw(rng, patients, providers, owner, today: date) -> list[Immunization]:
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
                    occurrence=at_daytime(day, rng),
                    lot_number=f"{rng.choice('ABCDEFGHJK')}{rng.randint(1000, 9999)}",
                    site="left deltoid" if age_on(patient, day) >= 3 else "right thigh",
                    route="intramuscular" if code not in ("116", "119") else "oral",
                    performer=providers[owner[patient.pk]],
                )
            )

    for patient in patients:
        age = age_on(patient, today)
        if age < 18:
            for months, code in CHILD_VACCINES:
                shot(
                    patient,
                    months_after(patient.birth_date, months) + timedelta(days=rng.randint(0, 20)),
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


def lab_results_draw(rng, patients, diagnoses: dict, today: date) -> list[Observation]:
    """Glucose, HbA1c, total cholesterol and haemoglobin for adults, one to three times over two years; values
    drawn in range, or out of range for the conditions on the problem list (diabetes, hyperlipidaemia)."""
    out = []
    for patient in patients:
        age = age_on(patient, today)
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
            when = at_daytime(today - timedelta(days=rng.randint(10, 720)), rng)
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


def vitals_draw(rng, patient, at: datetime, *, hypertensive: bool, encounter) -> VitalSigns:
    """One set of vitals as a US clinic types them (\u00b0F, lb, in), stored in UCUM base units beside."""
    age = max(0, (at.date() - patient.birth_date).days // 365)
    if age < 18:
        height_in = Decimal(min(69, 22 + age * 3))
        weight_lb = Decimal(str(round(9 + age * 7 + rng.uniform(-2, 4), 1)))
        sbp, dbp, hr = rng.randint(95, 118), rng.randint(55, 75), rng.randint(75, 120)
    else:
        height_in = Decimal(rng.randint(60, 76))
        weight_lb = Decimal(str(round(rng.uniform(115, 245), 1)))
        base = 150 if hypertensive else 122
        sbp = rng.randint(base - 14, base + 16)
        dbp = rng.randint(max(55, sbp - 70), min(sbp - 25, 102))
        hr = rng.randint(56, 98) if rng.random() > 0.06 else rng.randint(101, 118)
    temp_f = Decimal(
        str(round(rng.uniform(97.2, 99.3) if rng.random() > 0.08 else rng.uniform(100.4, 102.5), 1))
    )
    spo2 = rng.randint(95, 99) if rng.random() > 0.06 else rng.randint(90, 93)
    vs = VitalSigns(
        patient=patient,
        encounter=encounter,
        taken_at=at + timedelta(minutes=5),
        systolic=sbp,
        diastolic=dbp,
        heart_rate=hr,
        resp_rate=rng.randint(12, 20),
        temperature=vitals.to_base(temp_f, "[degF]"),
        temperature_entered=temp_f,
        temperature_unit="[degF]",
        weight=vitals.to_base(weight_lb, "[lb_av]"),
        weight_entered=weight_lb,
        weight_unit="[lb_av]",
        height=vitals.to_base(height_in, "[in_i]"),
        height_entered=height_in,
        height_unit="[in_i]",
        spo2=spo2,
    )
    vs.bmi = vitals.bmi(vs.weight, vs.height)
    return vs


def note_signed(enc: Encounter, reason: str, when: datetime) -> Note:
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
