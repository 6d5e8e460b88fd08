"""Reference data the generators draw from: ICD-10 codes, allergens, lab tests and panels, medications."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from .base import BENCH_LOCATION, SeedContext, register
from .staff import seed_staff

# ------------------------------------------------------------------ reference data
COMMON_ICD10 = [
    "I10",
    "E11.9",
    "E78.5",
    "J45.909",
    "E66.9",
    "M54.50",
    "F41.1",
    "F32.A",
    "K21.9",
    "N39.0",
    "J06.9",
    "E03.9",
    "G43.909",
    "M17.11",
    "R51.9",
    "J30.9",
    "L30.9",
    "M25.561",
    "E55.9",
    "I25.10",
    "J44.9",
    "I48.91",
    "E11.65",
    "F17.210",
    "G47.33",
    "R10.9",
    "M79.7",
    "E78.00",
    "K58.9",
    "H10.9",
    "B35.1",
    "L70.0",
    "N40.0",
    "R73.03",
    "D64.9",
    "J02.9",
    "J20.9",
    "M19.90",
    "F90.0",
    "G47.00",
]
# (name in the catalog, category, criticality, reaction); drug allergens are coded by the catalog's ingredient
ALLERGENS = [
    ("Penicillin G", "medication", "high", "Hives"),
    ("Amoxicillin", "medication", "high", "Rash"),
    ("Sulfamethoxazole", "medication", "low", "Rash"),
    ("Codeine", "medication", "low", "Nausea"),
    ("Ibuprofen", "medication", "low", "Stomach upset"),
    ("Aspirin", "medication", "low", "Wheezing"),
    ("Lisinopril", "medication", "low", "Cough"),
    ("Peanut", "food", "high", "Anaphylaxis"),
    ("Shellfish", "food", "high", "Swelling of the lips"),
    ("Egg", "food", "low", "Hives"),
    ("Latex", "environment", "high", "Contact dermatitis"),
    ("Cat dander", "environment", "low", "Sneezing"),
    ("Pollen", "environment", "low", "Itchy eyes"),
]
# LOINC, display, unit, low, high (reference range), spread around the range
LABS = [
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136, 145),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 125, 200),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 40, 150),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 40, 80),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.5),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11.0),
]
PANELS = [LABS[0:4], LABS[5:8], [LABS[4], LABS[0]], LABS[8:10]]


def _catalogs_load() -> int:
    """The ICD-10-CM list and the medication catalog, with the product's own commands, when missing."""
    from django.core.management import call_command

    from encounters.models import Icd10Code
    from prescriptions.models import Medication

    made = 0
    if not Icd10Code.objects.exists():
        call_command("load_icd10", stdout=open("/dev/null", "w"))  # noqa: SIM115
        made += Icd10Code.objects.count()
    if not Medication.objects.filter(is_active=True).exists():
        call_command("load_catalog", stdout=open("/dev/null", "w"))  # noqa: SIM115
        made += Medication.objects.count()
    return made


_APPOINTMENT_TYPES = (
    ("Follow-up visit", 20, "office"),
    ("Sick visit", 20, "urgent"),
    ("Telehealth visit", 20, "telehealth"),
)


def _clinic_make(ctx: SeedContext) -> tuple[SimpleNamespace, int]:
    """The bench location, a room per provider, appointment types and weekday working hours (8 to 17)."""
    from datetime import time as clock

    from scheduling.models import AppointmentType, Location, Room, WorkingHours

    made = 0
    loc, _ = Location.objects.get_or_create(name=BENCH_LOCATION, defaults={"address": "1 Bench Way"})
    rooms = []
    for i, _p in enumerate(ctx.providers, start=1):
        room, created = Room.objects.get_or_create(location=loc, name=f"Exam {i:02d}")
        rooms.append(room)
        made += created
    types = []
    for name, minutes, etype in _APPOINTMENT_TYPES:
        t, created = AppointmentType.objects.get_or_create(
            name=f"Bench {name}", defaults={"duration_minutes": minutes, "encounter_type": etype}
        )
        types.append(t)
        made += created
    have = set(WorkingHours.objects.filter(provider__in=ctx.providers).values_list("provider_id", flat=True))
    wh = [
        WorkingHours(
            provider=p,
            location=loc,
            weekday=d,
            start_time=clock(8),
            end_time=clock(17),
            effective_from=date(2000, 1, 1),
        )
        for p in ctx.providers
        if p.pk not in have
        for d in range(5)
    ]
    WorkingHours.objects.bulk_create(wh)
    made += len(wh)
    return SimpleNamespace(location=loc, rooms=rooms, types=types), made


def _pharmacies_make() -> tuple[list, int]:
    """Twenty bench pharmacies (the first electronic one is pointed at the simulator by the e-prescription
    figure), unless they exist."""
    from prescriptions.models import Pharmacy

    pharmacies = list(Pharmacy.objects.filter(name__startswith="Bench "))
    if pharmacies:
        return pharmacies, 0
    rows = [
        Pharmacy(
            ncpdp_id="9900001",
            npi="",
            name="Bench Pharmacy (simulator)",
            phone="5550000001",
            accepts=["NewRx", "CancelRx", "RxRenewalResponse", "RxChangeResponse"],
            endpoint="http://127.0.0.1:9/ncpdp",
            inbound_secret="bench-inbound-secret",
            is_electronic=True,
        )
    ]
    rows += [
        Pharmacy(
            ncpdp_id=f"99{i:05d}",
            name=f"Bench Pharmacy {i:02d}",
            phone=f"55500{i:05d}",
            accepts=["NewRx", "CancelRx"],
            endpoint=f"https://pharmacy{i:02d}.bench.test/ncpdp",
            is_electronic=True,
        )
        for i in range(2, 21)
    ]
    return Pharmacy.objects.bulk_create(rows), len(rows)


def _codes_draw() -> dict:
    """The codes the generators draw from: common billable ICD-10 codes (any 40 billable ones if none of the
    common ones is loaded), catalog medications (controlled apart), coded allergens, vaccines."""
    from encounters.cvx import CVX
    from encounters.models import Icd10Code
    from prescriptions.models import Medication, MedicationIngredient

    codes = dict(
        Icd10Code.objects.filter(code__in=COMMON_ICD10, billable=True).values_list("code", "description")
    )
    icd = [(c, codes[c]) for c in COMMON_ICD10 if c in codes] or [
        (c, d) for c, d in Icd10Code.objects.filter(billable=True).values_list("code", "description")[:40]
    ]
    meds = list(
        Medication.objects.filter(is_active=True, tty="SCD")
        .order_by("rxcui")
        .values_list("id", "rxcui", "name", "dea_schedule")
    )
    ingredients = dict(
        MedicationIngredient.objects.exclude(ingredient_rxcui="").values_list("name", "ingredient_rxcui")
    )
    return {
        "icd": icd,
        "meds": [m for m in meds if not m[3]],
        "controlled": [m for m in meds if m[3]],
        "allergens": [
            (name, cat, crit, reaction, ingredients.get(name, "") if cat == "medication" else "")
            for name, cat, crit, reaction in ALLERGENS
        ],
        "cvx": sorted(CVX.items()),
    }


@register(name="reference", order=15)
def seed_reference(ctx: SeedContext) -> int:
    """What the generators draw from, loaded with the product's own commands when missing: the ICD-10-CM list
    (`load_icd10`), the medication catalog (`load_catalog`); plus the clinic: a location, a room per provider,
    appointment types, weekday working hours, and pharmacies (one electronic, pointed at the simulator by the
    e-prescription figure)."""
    seed_staff(ctx)
    made = _catalogs_load()
    clinic, n_clinic = _clinic_make(ctx)
    pharmacies, n_pharmacies = _pharmacies_make()
    ctx.ref = SimpleNamespace(
        **_codes_draw(),
        location_id=clinic.location.pk,
        rooms=[r.pk for r in clinic.rooms],
        types=[t.pk for t in clinic.types],
        pharmacies=[p.pk for p in pharmacies],
    )
    return made + n_clinic + n_pharmacies


def reference_load(ctx: SeedContext) -> None:
    if ctx.ref is None:
        seed_reference(ctx)
