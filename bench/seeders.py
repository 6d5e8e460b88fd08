"""Synthetic data at clinic-network scale, loaded with PostgreSQL COPY.

Seeders register themselves in order; `seed_run` calls each with a shared SeedContext. Each writes one main table
with a pipelined COPY and, in the same pass, the rows that hang off it into spools (bench/copy.py) loaded right
after: a patient's problems, allergies and immunizations; an encounter's note, vitals, results and prescription
(with its timeline and medication-list row). Every column the seeder does not name gets the model's default
(bench.copy.Table), so a new column with a default does not break the seed; a new required one stops it with
its name.

Why COPY and not the ORM: one million patients through `save()` take hours; COPY takes seconds per 100k rows.
What COPY skips (and the product's code would do): django-auditlog entries and access events for the seeded
writes, outbox rows (the NCPDP XML) of seeded prescriptions, and field encryption for most patients
(ENCRYPTED_FRACTION, see below). The audit hash chain is built here, with the product's own hash functions.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.db import connection

from . import sizes
from .copy import Table, copy_lines

BENCH_CLINICIAN = "bench.clinician"
BENCH_PRIVACY = "bench.privacy"
BENCH_FRONT_DESK = "bench.frontdesk"
BENCH_DEPARTMENT = "Bench network"
BENCH_LOCATION = "Bench network clinic"
BENCH_FAMILY = "Benchmark"
# The bench clinician signs prescriptions in figure 6 (signing asks for the password again).
BENCH_PASSWORD = "bench-password-2026"  # noqa: S105 (a bench database's synthetic user)
# given name of a named benchmark patient -> encounters it gets
BENCH_PATIENTS = {"Solo": 0, "Ten": 10, "Hundred": 100, "Thousand": 1000}
# share of all audit events that name the "Thousand" patient: the per-patient report's busy chart
HOT_PATIENT_EVENT_SHARE = 0.0005
SEEDED_TABLES: list[str] = []  # filled as seeders load tables; VACUUM ANALYZE at the end


@dataclass
class SeedContext:
    counts: dict[str, int]
    rng: random.Random
    out: Callable[[str], None]
    clinician: object | None = None
    privacy: object | None = None
    front_desk: object | None = None
    providers: list = field(default_factory=list)
    department_id: int | None = None
    patient_ids: list[str] = field(default_factory=list)  # every patient seeded in this run
    granted_ids: list[str] = field(default_factory=list)  # those on the bench clinician's care team
    bench_ids: dict[str, str] = field(
        default_factory=dict
    )  # given name -> id of the named benchmark patients
    ref: SimpleNamespace | None = None  # reference data the generators draw from (seed_reference)
    timings: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows written in this run
    notes: list[str] = field(default_factory=list)

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        self.out(f"  note: {msg}")

    def loaded(self, table: str, rows: int) -> int:
        self.tables[table] = self.tables.get(table, 0) + rows
        if rows and table not in SEEDED_TABLES:
            SEEDED_TABLES.append(table)
        return rows


@dataclass
class Seeder:
    name: str
    order: int
    fn: Callable[[SeedContext], int]


SEEDERS: list[Seeder] = []


def register(*, name: str, order: int):
    """Decorator: fn(ctx) -> number of rows written."""

    def deco(fn):
        if all(s.name != name for s in SEEDERS):
            SEEDERS.append(Seeder(name, order, fn))
            SEEDERS.sort(key=lambda s: s.order)
        return fn

    return deco


def is_superuser() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cur.fetchone()
    return bool(row and row[0])


def seed_run(
    *, counts: dict[str, int], seed: int = 2026, out=print, only: list[str] | None = None
) -> SeedContext:
    from patients import chartversion

    ctx = SeedContext(counts=counts, rng=random.Random(seed), out=out)
    with connection.cursor() as cur:
        # A bulk load: losing the last few hundred milliseconds on a crash is fine, waiting for fsync is not.
        cur.execute("SET synchronous_commit = off")
        # The chart-version triggers would bump each patient once per COPY chunk of every clinical table (millions
        # of updates of patients_patient); the seed bumps every version once at the end instead
        # (patients/chartversion.py).
        cur.execute("SET ehr.chart_version_bump = 'off'")
    SEEDED_TABLES.clear()
    try:
        for s in SEEDERS:
            if only and s.name not in only and s.name not in ("staff", "reference"):
                continue
            t0 = time.perf_counter()
            before = dict(ctx.tables)
            n = s.fn(ctx)
            dt = time.perf_counter() - t0
            ctx.timings[s.name] = {
                "rows": n,
                "seconds": round(dt, 2),
                "rows_per_s": round(n / dt) if dt and n else 0,
                "tables": {t: r - before.get(t, 0) for t, r in ctx.tables.items() if r != before.get(t, 0)},
            }
            out(
                f"  {s.name:<12} {n:>12,} rows  {dt:8.1f} s"
                + (f"  ({n / dt:,.0f} rows/s)" if n and dt else "")
            )
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET ehr.chart_version_bump")
            cur.execute(
                "SELECT DISTINCT event_object_table FROM information_schema.triggers "
                "WHERE action_statement LIKE '%%patient_chart_version_bump%%'"
            )
            charted = {r[0] for r in cur.fetchall()}
            if charted & set(SEEDED_TABLES):
                t0 = time.perf_counter()
                cur.execute(chartversion.BULK_BUMP_SQL)
                ctx.timings["chart_version"] = {"seconds": round(time.perf_counter() - t0, 2)}
                out(f"  {'versions':<12} {cur.rowcount:>12,} rows  {time.perf_counter() - t0:8.1f} s")
    # VACUUM sets the visibility map (index-only scans) and hint bits, as autovacuum would have on a live system;
    # ANALYZE gives the planner statistics at once.
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        for table in SEEDED_TABLES:
            cur.execute(f"VACUUM (ANALYZE) {table}")
    ctx.timings["vacuum_analyze"] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "tables": len(SEEDED_TABLES),
    }
    out(f"  {'vacuum':<12} {len(SEEDED_TABLES):>7} tables  {time.perf_counter() - t0:8.1f} s")
    return ctx


def foreign_patients_exist() -> bool:
    """Whether the database holds patients outside the bench department (a real or a demo database).

    Patients created by the FHIR import figure (department NULL, source "bench-fhir-...") count as bench data."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM patients_patient p LEFT JOIN patients_department d "
            "ON d.id = p.department_id WHERE d.name IS DISTINCT FROM %s AND NOT EXISTS ("
            "SELECT 1 FROM fhirapi_importedrecord r WHERE r.patient_id = p.id AND r.source LIKE 'bench-fhir-%%'))",
            [BENCH_DEPARTMENT],
        )
        return cur.fetchone()[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ------------------------------------------------------------------ staff
def _npi(rng: random.Random) -> str:
    from patients.services import luhn_digit

    body = "1" + f"{rng.randrange(10**8):08d}"
    # NPI check digit: Luhn over the prefix 80840 plus the first nine digits (accounts/validators.py).
    return body + luhn_digit("80840" + body)


@register(name="staff", order=10)
def seed_staff(ctx: SeedContext) -> int:
    """The bench clinician (care-team grants, a verified TOTP device, a password for signing), a privacy officer,
    a front-desk user in the bench department (calendar), 50 providers with practitioner records."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import Practitioner
    from accounts.roles import Role
    from patients.models import Department

    if ctx.clinician is not None:
        return 0
    User = get_user_model()
    made = 0

    def user(username: str, role: str, first: str, last: str):
        nonlocal made
        u, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@bench.test"},
        )
        if created:
            u.set_unusable_password()
            u.save(update_fields=["password"])
            u.groups.add(Group.objects.get(name=role))
            made += 1
        return u

    def practitioner(u, rng: random.Random) -> None:
        if not Practitioner.objects.filter(user=u).exists():
            npi = _npi(rng)
            while Practitioner.objects.filter(npi=npi).exists():
                npi = _npi(rng)
            Practitioner.objects.create(user=u, npi=npi, specialty="Family medicine", credentials="MD")

    rng = random.Random(17)  # staff are the same whatever the data seed
    ctx.clinician = user(BENCH_CLINICIAN, Role.CLINICIAN, "Bench", "Clinician")
    ctx.privacy = user(BENCH_PRIVACY, Role.PRIVACY_OFFICER, "Bench", "Privacy")
    ctx.front_desk = user(BENCH_FRONT_DESK, Role.FRONT_DESK, "Bench", "Desk")
    for u in (ctx.clinician, ctx.privacy, ctx.front_desk):
        TOTPDevice.objects.get_or_create(user=u, name="bench", defaults={"confirmed": True})
    if not ctx.clinician.has_usable_password():
        ctx.clinician.set_password(BENCH_PASSWORD)
        ctx.clinician.save(update_fields=["password"])
    practitioner(ctx.clinician, rng)
    ctx.providers = [
        user(f"bench.provider{i:02d}", Role.CLINICIAN, "Provider", f"{i:02d}")
        for i in range(1, sizes.PROVIDERS + 1)
    ]
    for p in ctx.providers:
        practitioner(p, rng)
    dept, _ = Department.objects.get_or_create(name=BENCH_DEPARTMENT)
    dept.members.add(ctx.front_desk)  # the desk sees names on the calendar (department grants view_schedule)
    ctx.department_id = dept.pk
    return made


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


@register(name="reference", order=15)
def seed_reference(ctx: SeedContext) -> int:
    """What the generators draw from, loaded with the product's own commands when missing: the ICD-10-CM list
    (`load_icd10`), the medication catalog (`load_catalog`); plus the clinic: a location, a room per provider,
    appointment types, weekday working hours, and pharmacies (one electronic, pointed at the simulator by the
    e-prescription figure)."""
    from django.core.management import call_command

    from encounters.models import Icd10Code
    from prescriptions.models import Medication, MedicationIngredient, Pharmacy
    from scheduling.models import AppointmentType, Location, Room, WorkingHours

    seed_staff(ctx)
    made = 0
    if not Icd10Code.objects.exists():
        call_command("load_icd10", stdout=open("/dev/null", "w"))  # noqa: SIM115
        made += Icd10Code.objects.count()
    if not Medication.objects.filter(is_active=True).exists():
        call_command("load_catalog", stdout=open("/dev/null", "w"))  # noqa: SIM115
        made += Medication.objects.count()
    loc, _ = Location.objects.get_or_create(name=BENCH_LOCATION, defaults={"address": "1 Bench Way"})
    rooms = []
    for i, _p in enumerate(ctx.providers, start=1):
        room, created = Room.objects.get_or_create(location=loc, name=f"Exam {i:02d}")
        rooms.append(room)
        made += created
    types = []
    for name, minutes, etype in (
        ("Follow-up visit", 20, "office"),
        ("Sick visit", 20, "urgent"),
        ("Telehealth visit", 20, "telehealth"),
    ):
        t, created = AppointmentType.objects.get_or_create(
            name=f"Bench {name}", defaults={"duration_minutes": minutes, "encounter_type": etype}
        )
        types.append(t)
        made += created
    from datetime import time as clock

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
    pharmacies = list(Pharmacy.objects.filter(name__startswith="Bench "))
    if not pharmacies:
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
        pharmacies = Pharmacy.objects.bulk_create(rows)
        made += len(rows)

    codes = dict(
        Icd10Code.objects.filter(code__in=COMMON_ICD10, billable=True).values_list("code", "description")
    )
    icd = [(c, codes[c]) for c in COMMON_ICD10 if c in codes]
    meds = list(
        Medication.objects.filter(is_active=True, tty="SCD")
        .order_by("rxcui")
        .values_list("id", "rxcui", "name", "dea_schedule")
    )
    ingredients = dict(
        MedicationIngredient.objects.exclude(ingredient_rxcui="").values_list("name", "ingredient_rxcui")
    )
    from encounters.cvx import CVX

    ctx.ref = SimpleNamespace(
        icd=icd
        or [
            (c, d) for c, d in Icd10Code.objects.filter(billable=True).values_list("code", "description")[:40]
        ],
        meds=[m for m in meds if not m[3]],
        controlled=[m for m in meds if m[3]],
        allergens=[
            (name, cat, crit, reaction, ingredients.get(name, "") if cat == "medication" else "")
            for name, cat, crit, reaction in ALLERGENS
        ],
        cvx=sorted(CVX.items()),
        location_id=loc.pk,
        rooms=[r.pk for r in rooms],
        types=[t.pk for t in types],
        pharmacies=[p.pk for p in pharmacies],
    )
    return made


def reference_load(ctx: SeedContext) -> None:
    if ctx.ref is None:
        seed_reference(ctx)


# ------------------------------------------------------------------ patients (+ problems, allergies, immunizations)
PATIENT_FIELDS = [
    "id",
    "mrn",
    "given_name",
    "middle_name",
    "family_name",
    "preferred_name",
    "birth_date",
    "sex_at_birth",
    "race",
    "ethnicity",
    "preferred_language",
    "department",
    "allergy_status",
    "allergy_summary",
    "ssn",
    "ssn_bidx",
    "phones",
    "phone_bidx",
    "email",
    "addresses",
    "key_version",
    "name_search",
    "created_at",
    "updated_at",
]
PROBLEM_FIELDS = [
    "id",
    "patient",
    "code",
    "description",
    "status",
    "onset_date",
    "resolved_date",
    "recorded_by",
    "recorded_at",
]
ALLERGY_FIELDS = [
    "id",
    "patient",
    "substance_text",
    "substance_rxcui",
    "category",
    "criticality",
    "severity",
    "reaction",
    "status",
    "onset_date",
    "recorded_by",
    "recorded_at",
]
IMMUNIZATION_FIELDS = [
    "id",
    "patient",
    "vaccine_code",
    "vaccine_display",
    "occurrence",
    "status",
    "lot_number",
    "site",
    "route",
    "performer",
    "recorded_at",
]
_RACES = (
    ["2106-3"] * 60
    + ["2054-5"] * 13
    + ["2028-9"] * 6
    + ["2131-1"] * 8
    + ["UNK"] * 10
    + ["1002-5", "2076-8", "ASKU"]
)
_STREETS = ["Main St", "Oak Ave", "Maple Dr", "Elm St", "Cedar Ln", "Park Rd", "Lake View Blvd", "2nd St"]
_CITIES = [
    ("Springfield", "IL", "62701"),
    ("Columbus", "OH", "43004"),
    ("Madison", "WI", "53703"),
    ("Albany", "NY", "12207"),
    ("Salem", "OR", "97301"),
    ("Austin", "TX", "73301"),
]
_CRIT_RANK = {"high": 0, "unable-to-assess": 1}


def _contact_fields(rng: random.Random, mrn: str) -> tuple:
    """Encrypted SSN, phone, e-mail and home address with their blind indexes (AES-GCM per value: slow)."""
    from patients import crypto

    ssn_plain = f"{rng.randrange(100, 900):03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
    phone = f"555-{rng.randrange(100, 1000):03d}-{rng.randrange(10000):04d}"
    city, state, postal = rng.choice(_CITIES)
    address = [
        {
            "use": "home",
            "line": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)}",
            "city": city,
            "state": state,
            "postal_code": postal,
            "country": "US",
        }
    ]
    return (
        crypto.encrypt(ssn_plain, context="ssn"),
        crypto.blind_index("ssn", crypto.digits(ssn_plain)),
        crypto.encrypt(json.dumps([{"use": "mobile", "value": phone}], sort_keys=True), context="phones"),
        [crypto.blind_index("phone", crypto.normalise_phone(phone))],
        crypto.encrypt(f"p{mrn}@example.test", context="email"),
        crypto.encrypt(json.dumps(address, sort_keys=True), context="addresses"),
    )


@register(name="patients", order=20)
def seed_patients(ctx: SeedContext) -> int:
    """Patients with realistic names (Faker pools), DOB, sex, MRN from the sequence + Luhn, name_search as
    patients.selectors.name_search_text computes it, the allergy banner as encounters' services keep it;
    encrypted identifiers and an address for ENCRYPTED_FRACTION of rows and for the named patients. In the same
    pass: problems (ICD-10-CM), allergies and immunizations (CVX)."""
    n = ctx.counts.get("patients", 0)
    if not n:
        return 0
    reference_load(ctx)
    from patients import crypto
    from patients.selectors import name_search_text
    from patients.services import luhn_digit

    from .names import NamePools

    pools = NamePools()
    rng, ref = ctx.rng, ctx.ref
    key_version = crypto.current_key_version()
    now = datetime.now(UTC)
    now_iso = now.isoformat()
    today = date.today()
    chunk = 20_000
    written = 0
    with connection.cursor() as cur:  # the named benchmark patients are made once, by the first seed
        cur.execute("SELECT given_name FROM patients_patient WHERE family_name = %s", [BENCH_FAMILY])
        existing = {r[0] for r in cur.fetchall()}
    named = [g for g in BENCH_PATIENTS if g not in existing]

    # MRNs first: the generator below must not touch the connection while the COPY thread uses it.
    mrn_seqs: list[int] = []
    with connection.cursor() as cur:
        while len(mrn_seqs) < n:
            cur.execute(
                "SELECT nextval('patients_mrn_seq') FROM generate_series(1, %s)",
                [min(100_000, n - len(mrn_seqs))],
            )
            mrn_seqs += [r[0] for r in cur.fetchall()]

    patients = Table("patients.Patient", PATIENT_FIELDS)
    problems = Table("encounters.Problem", PROBLEM_FIELDS).spool()
    allergies = Table("encounters.Allergy", ALLERGY_FIELDS).spool()
    immunizations = Table("encounters.Immunization", IMMUNIZATION_FIELDS).spool()
    providers = [p.pk for p in ctx.providers]

    def when(days_back: int) -> datetime:
        return now - timedelta(days=rng.randrange(1, max(2, days_back)), seconds=rng.randrange(86400))

    def clinical(pid: str, age_days: int) -> tuple[str, str]:
        """Problems, allergies and immunizations of one patient; returns the allergy banner (status, summary)."""
        for _ in range(int(rng.expovariate(1 / sizes.PROBLEMS_PER_PATIENT))):
            code, desc = rng.choice(ref.icd)
            onset = (now - timedelta(days=rng.randrange(1, max(2, min(age_days, 3650))))).date()
            resolved = onset + timedelta(days=rng.randrange(14, 400)) if rng.random() < 0.25 else None
            if resolved and resolved > today:
                resolved = today
            problems.add(
                (
                    _uuid(rng),
                    pid,
                    code,
                    desc,
                    "resolved" if resolved else "active",
                    onset,
                    resolved,
                    rng.choice(providers),
                    when(3650).isoformat(),
                )
            )
        banner = ("unknown", "")
        r = rng.random()
        if r < sizes.ALLERGY_FRACTION:
            active = []
            for name, cat, crit, reaction, rxcui in rng.sample(ref.allergens, 1 + int(rng.random() ** 3 * 3)):
                status = "active" if rng.random() < 0.95 else "inactive"
                allergies.add(
                    (
                        _uuid(rng),
                        pid,
                        name,
                        rxcui,
                        cat,
                        crit,
                        rng.choice(["mild", "moderate", ""]),
                        reaction,
                        status,
                        None,
                        rng.choice(providers),
                        when(3650).isoformat(),
                    )
                )
                if status == "active":
                    active.append((_CRIT_RANK.get(crit, 2), name))
            if active:
                summary = ", ".join(name for _, name in sorted(active))
                banner = ("has", summary if len(summary) <= 200 else summary[:199] + "\u2026")
        elif r < sizes.ALLERGY_FRACTION + 0.15:
            banner = ("nka", "")
        for _ in range(int(rng.expovariate(1 / sizes.IMMUNIZATIONS_PER_PATIENT))):
            code, display = rng.choice(ref.cvx)
            at = now - timedelta(
                days=rng.randrange(1, max(2, min(age_days, 3650))), seconds=rng.randrange(86400)
            )
            immunizations.add(
                (
                    _uuid(rng),
                    pid,
                    code,
                    display,
                    at.isoformat(),
                    "completed",
                    f"L{rng.randrange(10**6):06d}",
                    "Left deltoid",
                    "Intramuscular",
                    rng.choice(providers),
                    at.isoformat(),
                )
            )
        return banner

    def rows():
        nonlocal written
        while written < n:
            k = min(chunk, n - written)
            seqs = mrn_seqs[written : written + k]
            sexes = ["F" if rng.random() < 0.51 else "M" for _ in range(k)]
            names = pools.draw(rng, sexes)
            for i in range(k):
                pid = _uuid(rng)
                given, middle, family = names[i]
                is_named = False
                if named:  # the named benchmark patients come first
                    given, middle, family = named.pop(0), "", BENCH_FAMILY
                    ctx.bench_ids[given] = pid
                    is_named = True
                body = f"{seqs[i]:07d}"
                mrn = body + luhn_digit(body)
                age_days = int(rng.triangular(0, 100 * 365.25, 40 * 365.25))
                birth = today - timedelta(days=age_days)
                sex = sexes[i] if rng.random() > 0.005 else "UNK"
                preferred = given[:3] if rng.random() < 0.02 else ""
                contact = (None, "", None, [], None, None)
                if is_named or rng.random() < sizes.ENCRYPTED_FRACTION:
                    contact = _contact_fields(rng, mrn)
                banner = clinical(pid, age_days)
                yield (
                    pid,
                    mrn,
                    given,
                    middle,
                    family,
                    preferred,
                    birth.isoformat(),
                    sex,
                    [rng.choice(_RACES)],
                    "2135-2" if rng.random() < 0.19 else "2186-5",
                    "es" if rng.random() < 0.1 else "en",
                    ctx.department_id,
                    banner[0],
                    banner[1],
                    contact[0],
                    contact[1],
                    contact[2],
                    contact[3],
                    contact[4],
                    contact[5],
                    key_version,
                    name_search_text(given=given, middle=middle, family=family, preferred=preferred),
                    now_iso,
                    now_iso,
                )
                ctx.patient_ids.append(pid)
                if is_named or rng.random() < sizes.GRANT_FRACTION:
                    ctx.granted_ids.append(pid)
            written += k

    ctx.loaded(patients.table, patients.copy(rows()))
    total = written
    for spool in (problems, allergies, immunizations):
        total += ctx.loaded(spool.t.table, spool.load())
    return total


def patients_load(ctx: SeedContext) -> None:
    """For seeders run without the patients seeder (--only ...): the bench patients already there."""
    if ctx.patient_ids:
        return
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.id::text, p.given_name, p.family_name FROM patients_patient p WHERE p.department_id = %s "
            "ORDER BY p.created_at, p.id",
            [ctx.department_id],
        )
        for pid, given, family in cur.fetchall():
            ctx.patient_ids.append(pid)
            if family == BENCH_FAMILY:
                ctx.bench_ids[given] = pid


# ------------------------------------------------------------------ care-team grants
@register(name="grants", order=30)
def seed_grants(ctx: SeedContext) -> int:
    """The bench clinician on the care team of GRANT_FRACTION of patients and of every named benchmark patient:
    one guardian row per permission per patient (what patients.services.care_team_grant writes)."""
    if not ctx.granted_ids:
        return 0
    from django.contrib.auth.models import Permission

    from accounts import roles

    perms = roles.patient_permissions_for_roles(roles.user_roles(ctx.clinician))
    perm_ids = list(
        Permission.objects.filter(
            content_type__app_label="patients", content_type__model="patient", codename__in=perms
        ).values_list("id", flat=True)
    )
    uid = ctx.clinician.pk
    grants = Table("patients.PatientUserObjectPermission", ["permission", "user", "content_object"])
    team = Table("patients.CareTeamMember", ["patient", "user", "care_role"])
    n = ctx.loaded(
        grants.table, grants.copy((perm, uid, pid) for pid in ctx.granted_ids for perm in perm_ids)
    )
    n += ctx.loaded(team.table, team.copy((pid, uid, "Primary care physician") for pid in ctx.granted_ids))
    return n


# ------------------------------------------------------------------ encounters (+ notes, vitals, results, Rx)
ENCOUNTER_FIELDS = [
    "id",
    "patient",
    "encounter_type",
    "reason",
    "provider",
    "location",
    "status",
    "start",
    "end",
    "created_at",
]
NOTE_FIELDS = [
    "id",
    "encounter",
    "patient",
    "author",
    "subjective",
    "objective",
    "assessment",
    "plan",
    "status",
    "version",
    "signed_at",
    "signed_by",
    "content_hash",
    "created_at",
    "updated_at",
]
VITALS_FIELDS = [
    "id",
    "patient",
    "encounter",
    "taken_at",
    "systolic",
    "diastolic",
    "heart_rate",
    "resp_rate",
    "temperature",
    "weight",
    "height",
    "spo2",
    "pain_score",
    "bmi",
    "recorded_by",
    "recorded_at",
]
OBSERVATION_FIELDS = [
    "id",
    "patient",
    "encounter",
    "category",
    "loinc_code",
    "display",
    "value_quantity",
    "value_unit",
    "reference_low",
    "reference_high",
    "interpretation",
    "status",
    "effective",
    "issued",
]
RX_FIELDS = [
    "id",
    "patient",
    "prescriber",
    "medication",
    "dea_schedule",
    "dose",
    "dose_unit",
    "route",
    "frequency",
    "duration_days",
    "sig_text",
    "quantity",
    "quantity_unit",
    "days_supply",
    "refills",
    "diagnosis",
    "diagnosis_description",
    "pharmacy",
    "status",
    "prescriber_order_number",
    "created_at",
    "signed_at",
]
RX_EVENT_FIELDS = ["prescription", "patient", "status", "at", "detail"]
MED_FIELDS = [
    "id",
    "patient",
    "rxcui",
    "name",
    "dose_text",
    "source",
    "status",
    "started_on",
    "stopped_on",
    "prescription_id",
    "recorded_by",
    "recorded_at",
]
REASONS = {
    "Follow-up": ("Here for follow-up of chronic conditions.", "Stable.", "Continue current plan."),
    "Annual physical": (
        "Annual preventive visit. No complaints.",
        "Well adult.",
        "Age-appropriate screening.",
    ),
    "Cough": (
        "Cough for {d} days, no fever.",
        "Acute bronchitis, likely viral.",
        "Fluids, rest, return if worse.",
    ),
    "Hypertension follow-up": (
        "Checks blood pressure at home, {d} readings above 140.",
        "Essential hypertension, not at goal.",
        "Increase dose; recheck in 4 weeks.",
    ),
    "Back pain": (
        "Low back pain for {d} days after lifting.",
        "Mechanical low back pain.",
        "NSAID, stretching; physical therapy if not better.",
    ),
    "Diabetes review": (
        "Type 2 diabetes review; {d} hypoglycaemic episodes.",
        "Type 2 diabetes, fair control.",
        "A1c today; foot exam done; diet counselling.",
    ),
    "Medication refill": (
        "Needs refills. Tolerating medications.",
        "Chronic conditions stable.",
        "Refilled.",
    ),
    "Rash": ("Itchy rash on forearms for {d} days.", "Contact dermatitis.", "Topical steroid for two weeks."),
    "Headache": ("Headaches {d} times a week.", "Tension-type headache.", "Sleep hygiene; analgesic diary."),
    "Anxiety": (
        "Worry and poor sleep for {d} weeks.",
        "Generalized anxiety disorder.",
        "Counselling referral.",
    ),
    "Knee pain": (
        "Right knee pain on stairs for {d} weeks.",
        "Osteoarthritis of the knee.",
        "Exercise, NSAID.",
    ),
}
_TYPES = ["office"] * 7 + ["telehealth"] * 2 + ["phone", "urgent", "wellness"]
_FREQS = [("QD", 1), ("BID", 2), ("TID", 3), ("QHS", 1)]


def _lab_value(rng: random.Random, lo: float, hi: float) -> tuple[Decimal, str]:
    span = hi - lo
    v = rng.gauss((lo + hi) / 2, span / 2.5)
    v = max(v, lo / 3)
    value = Decimal(f"{v:.1f}") if hi < 20 else Decimal(f"{v:.0f}")
    flag = "H" if value > Decimal(str(hi)) else "L" if value < Decimal(str(lo)) else "N"
    return value, flag


@register(name="encounters", order=40)
def seed_encounters(ctx: SeedContext) -> int:
    """Encounters: 10 / 100 / 1,000 for the named benchmark patients, a few heavy patients with 1,000+, the rest
    spread over random patients, 50 providers, 10 years. Each has a signed note (content_hash as
    encounters.notes.note_hash computes it); VITALS_FRACTION have vital signs, LAB_FRACTION a lab panel,
    RX_FRACTION a prescription (valid for the prescriptions constraints: catalog drug, refill limits by schedule,
    ICD-10-CM diagnosis) with its timeline and medication-list row."""
    n = ctx.counts.get("encounters", 0)
    if not n:
        return 0
    reference_load(ctx)
    patients_load(ctx)
    if not ctx.patient_ids:
        ctx.note("encounters skipped: no bench patients")
        return 0
    from encounters import vitals
    from encounters.notes import note_hash
    from prescriptions.services import sig_render

    rng, ref = ctx.rng, ctx.ref
    now = datetime.now(UTC).replace(microsecond=0)
    targets: list[tuple[str, int]] = [
        (ctx.bench_ids[g], c) for g, c in BENCH_PATIENTS.items() if c and g in ctx.bench_ids
    ]
    named = sum(c for _, c in targets)
    heavy = max(
        0, min(20, (n - named) // 20_000)
    )  # a few patients with 1,000+ encounters at small and full size
    targets += [(rng.choice(ctx.patient_ids), 1000 + rng.randrange(500)) for _ in range(heavy)]
    rest = max(0, n - sum(c for _, c in targets))
    providers = [p.pk for p in ctx.providers]
    span = 10 * 365 * 86400
    reasons = list(REASONS)

    encounters = Table("encounters.Encounter", ENCOUNTER_FIELDS)
    notes = Table("encounters.Note", NOTE_FIELDS).spool()
    vitals_spool = Table("encounters.VitalSigns", VITALS_FIELDS).spool()
    observations = Table("encounters.Observation", OBSERVATION_FIELDS).spool()
    rxs = Table("prescriptions.Prescription", RX_FIELDS).spool()
    rx_events = Table("prescriptions.PrescriptionEvent", RX_EVENT_FIELDS).spool()
    meds = Table("encounters.MedicationStatement", MED_FIELDS).spool()
    # Sigs depend on a handful of values: rendered once by the product's own sig_render.
    sigs = {
        (dose, freq, days): sig_render(
            dose=Decimal(dose),
            dose_unit="tablet",
            route="PO",
            frequency=freq,
            duration_days=days,
            as_needed=False,
            as_needed_reason="",
        )
        for dose in ("1", "2")
        for freq, _ in _FREQS
        for days in (7, 10, 30, 90)
    }
    electronic = ref.pharmacies[1:] or ref.pharmacies

    def extras(eid: str, pid: str, provider: int, start: datetime, reason: str) -> None:
        subj, assess, plan = REASONS[reason]
        signed_at = start + timedelta(minutes=25, seconds=rng.randrange(3600))
        note = SimpleNamespace(
            pk=_uuid(rng),
            encounter_id=eid,
            patient_id=pid,
            signed_by_id=provider,
            signed_at=signed_at,
            subjective=subj.format(d=rng.randrange(2, 15)) + " Denies chest pain or shortness of breath.",
            objective="Alert, in no distress. Heart regular, lungs clear."
            if rng.random() < 0.8
            else "Vitals reviewed. Examination otherwise unremarkable.",
            assessment=assess,
            plan=plan + "\nFollow up as needed.",
        )
        notes.add(
            (
                note.pk,
                eid,
                pid,
                provider,
                note.subjective,
                note.objective,
                note.assessment,
                note.plan,
                "signed",
                1 + (rng.random() < 0.3),
                signed_at.isoformat(),
                provider,
                note_hash(note),
                (start + timedelta(minutes=10)).isoformat(),
                signed_at.isoformat(),
            )
        )
        if rng.random() < sizes.VITALS_FRACTION:
            w, h = Decimal(f"{rng.uniform(50, 120):.1f}"), Decimal(f"{rng.uniform(150, 195):.1f}")
            taken = (start + timedelta(minutes=5)).isoformat()
            vitals_spool.add(
                (
                    _uuid(rng),
                    pid,
                    eid,
                    taken,
                    rng.randrange(100, 165),
                    rng.randrange(60, 98),
                    rng.randrange(52, 105),
                    rng.randrange(12, 21),
                    Decimal(f"{rng.uniform(36.2, 37.8):.1f}"),
                    w,
                    h,
                    rng.randrange(94, 101),
                    rng.randrange(0, 6),
                    vitals.bmi(w, h),
                    provider,
                    taken,
                )
            )
        if rng.random() < sizes.LAB_FRACTION:
            at = start + timedelta(minutes=20)
            for loinc, display, unit, lo, hi in rng.choice(PANELS):
                value, flag = _lab_value(rng, lo, hi)
                observations.add(
                    (
                        _uuid(rng),
                        pid,
                        eid,
                        "laboratory",
                        loinc,
                        display,
                        value,
                        unit,
                        lo,
                        hi,
                        flag,
                        "final",
                        at.isoformat(),
                        (at + timedelta(days=1)).isoformat(),
                    )
                )
        if rng.random() < sizes.RX_FRACTION:
            controlled = ref.controlled and rng.random() < 0.03
            med_id, rxcui, name, schedule = rng.choice(ref.controlled if controlled else ref.meds)
            dose, (freq, per_day), days = (
                rng.choice(("1", "2")),
                rng.choice(_FREQS),
                rng.choice((7, 10, 30, 90)),
            )
            refills = 0 if schedule == "II" else rng.randrange(0, 6 if schedule else 12)
            code, desc = rng.choice(ref.icd)
            rid = uuid.UUID(int=rng.getrandbits(128), version=4)
            signed = start + timedelta(minutes=15, seconds=rng.randrange(600))
            r = rng.random()
            status = "delivered" if r < 0.92 else "printed" if r < 0.97 else "cancelled"
            rxs.add(
                (
                    str(rid),
                    pid,
                    provider,
                    med_id,
                    schedule,
                    dose,
                    "tablet",
                    "PO",
                    freq,
                    days,
                    sigs[(dose, freq, days)],
                    int(dose) * per_day * days,
                    "C48542",
                    days,
                    refills,
                    code,
                    desc,
                    rng.choice(electronic) if status != "printed" else None,
                    status,
                    rid.hex,
                    (signed - timedelta(minutes=3)).isoformat(),
                    signed.isoformat(),
                )
            )
            rx_events.add((str(rid), pid, "signed", signed.isoformat(), "signed with re-authentication"))
            rx_events.add(
                (
                    str(rid),
                    pid,
                    status,
                    (signed + timedelta(seconds=rng.randrange(1, 30))).isoformat(),
                    {
                        "delivered": "NewRx Status 010",
                        "printed": "printed for the patient",
                        "cancelled": "cancelled by the prescriber",
                    }[status],
                )
            )
            stopped = (signed + timedelta(days=days)).date()
            meds.add(
                (
                    _uuid(rng),
                    pid,
                    rxcui,
                    name,
                    sigs[(dose, freq, days)],
                    "prescribed",
                    "completed" if stopped < now.date() or status == "cancelled" else "active",
                    signed.date(),
                    stopped if stopped < now.date() else None,
                    str(rid),
                    provider,
                    signed.isoformat(),
                )
            )

    def rows():
        def one(pid):
            start = now - timedelta(seconds=rng.randrange(span))
            eid, provider, reason = _uuid(rng), rng.choice(providers), rng.choice(reasons)
            extras(eid, pid, provider, start, reason)
            return (
                eid,
                pid,
                rng.choice(_TYPES),
                reason,
                provider,
                ref.location_id,
                "finished",
                start.isoformat(),
                (start + timedelta(minutes=20)).isoformat(),
                start.isoformat(),
            )

        for pid, count in targets:
            for _ in range(count):
                yield one(pid)
        for _ in range(rest):
            yield one(rng.choice(ctx.patient_ids))

    total = ctx.loaded(encounters.table, encounters.copy(rows()))
    for spool in (notes, vitals_spool, observations, rxs, rx_events, meds):
        total += ctx.loaded(spool.t.table, spool.load())
    return total


# ------------------------------------------------------------------ appointments
APPOINTMENT_FIELDS = [
    "id",
    "patient",
    "provider",
    "appointment_type",
    "location",
    "room",
    "start",
    "end",
    "status",
    "reason",
    "cancel_reason",
    "created_by",
    "created_at",
    "updated_at",
]
SLOT_MINUTES = 20
SLOTS_PER_DAY = 27  # 08:00 to 17:00
FILL = 0.72  # share of slots booked


def appointment_days(count: int) -> tuple[date, date]:
    """The weekdays the appointments span: enough for `count` at FILL, three quarters before today (history),
    a quarter ahead; today is always inside."""
    weekdays = max(2, round(count / (sizes.PROVIDERS * SLOTS_PER_DAY * FILL)))
    days = round(weekdays * 7 / 5)
    today = date.today()
    return today - timedelta(days=days * 3 // 4), today + timedelta(days=max(1, days - days * 3 // 4))


@register(name="appointments", order=45)
def seed_appointments(ctx: SeedContext) -> int:
    """Appointments for the 50 providers on weekdays 08:00-17:00 (clinic time), 20-minute slots, each provider in
    their own room, so neither exclusion constraint (provider, room) can be violated; FILL of the slots booked.
    Past ones are done (some no-shows and cancellations), today's move through the patient flow, future ones are
    scheduled."""
    n = ctx.counts.get("appointments", 0)
    if not n:
        return 0
    reference_load(ctx)
    patients_load(ctx)
    if not ctx.patient_ids:
        ctx.note("appointments skipped: no bench patients")
        return 0
    from scheduling.recurrence import clinic_tz

    tz = clinic_tz()
    rng, ref = ctx.rng, ctx.ref
    first, last = appointment_days(n)
    with connection.cursor() as cur:  # a top-up must not book slots an earlier seed took
        cur.execute(
            "SELECT min(start), max(start) FROM encounters_appointment WHERE location_id = %s",
            [ref.location_id],
        )
        lo, hi = cur.fetchone()
    if lo is not None:
        first = max(first, hi.astimezone(tz).date() + timedelta(days=1))
        last = max(last, first + (last - first))
    today = date.today()
    now = datetime.now(UTC)
    providers = [p.pk for p in ctx.providers]
    appts = Table("scheduling.Appointment", APPOINTMENT_FIELDS)
    desk = ctx.front_desk.pk
    flow = ["done", "with_provider", "in_room", "checked_in", "arrived"]

    def rows():
        made = 0
        day = first
        while made < n:
            if day.weekday() < 5:
                for pi, provider in enumerate(providers):
                    for s in range(SLOTS_PER_DAY):
                        if made >= n:
                            return
                        if rng.random() >= FILL:
                            continue
                        start = datetime(day.year, day.month, day.day, 8, tzinfo=tz) + timedelta(
                            minutes=SLOT_MINUTES * s
                        )
                        end = start + timedelta(minutes=SLOT_MINUTES)
                        r = rng.random()
                        cancel = ""
                        if day < today or (day == today and end <= now):
                            status = "done" if r < 0.85 else "no_show" if r < 0.9 else "cancelled"
                        elif day == today:
                            status = rng.choice(flow) if start <= now else "scheduled"
                        else:
                            status = "scheduled" if r < 0.95 else "cancelled"
                        if status == "cancelled":
                            cancel = "Patient asked to reschedule"
                        booked = (start - timedelta(days=rng.randrange(1, 60))).isoformat()
                        yield (
                            _uuid(rng),
                            rng.choice(ctx.patient_ids),
                            provider,
                            rng.choice(ref.types),
                            ref.location_id,
                            ref.rooms[pi],
                            start.isoformat(),
                            end.isoformat(),
                            status,
                            rng.choice(list(REASONS)),
                            cancel,
                            desk,
                            booked,
                            booked,
                        )
                        made += 1
            day += timedelta(days=1)

    return ctx.loaded(appts.table, appts.copy(rows()))


# ------------------------------------------------------------------ audit events and their hash chain
AUDIT_COLUMNS = [
    "id",
    "occurred_at",
    "actor_id",
    "actor_username",
    "patient_id",
    "patient_ids",
    "action",
    "category",
    "outcome",
    "source_ip",
    "break_glass",
    "channel",
    "request_id",
    "detail",
]
LINK_COLUMNS = ["seq", "event_id", "event_time", "content_hash", "prev_hash", "chain_hash", "linked_at"]


def audit_partitions_for(start: date, end: date) -> list[str]:
    """Monthly partitions of audit_accessevent covering [start, end], made through the product's SECURITY DEFINER
    function audit_partition_ensure (the application role owns no table), before the load, so no seeded row lands
    in the default partition."""
    from audit.services import audit_ensure_partitions

    made = audit_ensure_partitions()
    month = start.replace(day=1)
    with connection.cursor() as cur:
        while month <= end:
            cur.execute("SELECT audit_partition_ensure(%s)", [month])
            if cur.fetchone()[0]:
                made.append(f"audit_accessevent_{month:%Y%m}")
            month = (month + timedelta(days=32)).replace(day=1)
    return sorted(made)


@register(name="audit", order=50)
def seed_audit(ctx: SeedContext) -> int:
    """Access events over AUDIT_MONTHS months, in time order (ids grow with time, as in production): chart views
    (one patient), searches and lists (1-20 patients in patient_ids), writes, a few denials and break-the-glass;
    and their hash chain (audit_chainlink), computed with audit.services.content_hash / chain_hash exactly as the
    linker would, appended after the chain's current head. The linker's queue (audit_unlinked) ends empty, as on
    a system whose linker keeps up."""
    n = ctx.counts.get("audit_events", 0)
    if not n:
        return 0
    patients_load(ctx)
    from audit.services import _LINK_LOCK, GENESIS, chain_hash, content_hash

    ids = ctx.patient_ids
    if not ids:
        ctx.note("audit skipped: no patients")
        return 0
    hot = ctx.bench_ids.get("Thousand")
    end = datetime.now(UTC) - timedelta(minutes=5)
    start = end - timedelta(days=round(sizes.AUDIT_MONTHS * 30.44))
    made = audit_partitions_for(start.date(), end.date())
    if made:
        ctx.out(f"  created partitions {made[0]} .. {made[-1]}")
    rng = ctx.rng
    actors = [(ctx.clinician.pk, ctx.clinician.username)] + [(p.pk, p.username) for p in ctx.providers]
    actor_cum = []
    s = 0.0
    for i in range(len(actors)):
        s += 1.0 / (i + 1) ** 0.5
        actor_cum.append(s)
    view_cats = ["chart summary"] * 6 + [
        "encounter",
        "clinical note",
        "medication list",
        "vital signs",
        "problem list",
        "allergy list",
        "appointments",
        "demographics",
    ]
    t0 = start.timestamp()
    span = end.timestamp() - t0
    n_ids = len(ids)
    random_ = rng.random
    getrandbits = rng.getrandbits
    linked_at = datetime.now(UTC).isoformat()

    # Event ids from the table's sequence, and the chain's head, before the COPY thread owns the connection.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('audit_accessevent', 'id')")
        seq_name = cur.fetchone()[0]
        event_ids: list[int] = []
        while len(event_ids) < n:
            cur.execute(
                f"SELECT nextval('{seq_name}') FROM generate_series(1, %s)",
                [min(200_000, n - len(event_ids))],
            )
            event_ids += [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_advisory_lock(%s)", [_LINK_LOCK])  # the linker must not append meanwhile
        cur.execute("SELECT seq, chain_hash FROM audit_chainlink ORDER BY seq DESC LIMIT 1")
        head = cur.fetchone()
    link_seq, prev = head if head else (0, GENESIS)
    links: list[str] = []

    def pick() -> str:
        if hot and random_() < HOT_PATIENT_EVENT_SHARE:
            return hot
        # skewed: a small share of patients (chronic care) is opened far more often
        return ids[int(n_ids * random_() ** 2.5)]

    def lines():
        nonlocal link_seq, prev
        for i in range(n):
            at = datetime.fromtimestamp(t0 + span * (i + random_()) / n, UTC)
            aid, aname = (
                actors[rng.choices(range(len(actors)), cum_weights=actor_cum)[0]]
                if random_() < 0.97
                else (ctx.privacy.pk, ctx.privacy.username)
            )
            r = random_()
            pid, pids, detail = None, [], {}
            if r < 0.75:
                action, cat, pid = "view", view_cats[int(random_() * len(view_cats))], pick()
            elif r < 0.90:
                action, cat = "list", "patient list"
                pids = [pick() for _ in range(1 + int(random_() * 20))]
                detail = {"query_kind": "name"}
            elif r < 0.98:
                action, cat, pid = ("update" if r < 0.95 else "create"), "encounter", pick()
            else:
                action, cat, pid = ("print" if r < 0.99 else "export"), "chart summary", pick()
            ev = SimpleNamespace(
                id=event_ids[i],
                occurred_at=at,
                actor_id=aid,
                actor_username=aname,
                patient_id=pid,
                patient_ids=pids,
                action=action,
                category=cat,
                outcome="denied" if random_() < 0.01 else "success",
                source_ip=f"10.{getrandbits(8)}.{getrandbits(8)}.{getrandbits(8)}",
                break_glass=random_() < 0.0005,
                channel="ui" if random_() < 0.9 else ("api" if random_() < 0.5 else "task"),
                request_id=uuid.UUID(int=getrandbits(128), version=4),
                detail=detail,
            )
            ts = at.isoformat()
            ch = content_hash(ev)
            link_seq += 1
            new = chain_hash(prev, ch)
            links.append(f"{link_seq}\t{ev.id}\t{ts}\t{ch}\t{prev}\t{new}\t{linked_at}\n")
            prev = new
            yield (
                f"{ev.id}\t{ts}\t{aid}\t{aname}\t{pid or chr(92) + 'N'}\t{{{','.join(pids)}}}\t{action}\t{cat}\t"
                f"{ev.outcome}\t{ev.source_ip}\t{'t' if ev.break_glass else 'f'}\t{ev.channel}\t{ev.request_id}\t"
                f"{json.dumps(detail)}\n"
            )

    def link_lines():
        while links:
            yield from links[:]
            links.clear()

    replica = is_superuser()
    try:
        with connection.cursor() as cur:
            if replica:
                # The queue trigger would add each event to audit_unlinked and the link trigger remove it again:
                # the end state is the same (queue empty), so a superuser skips both for speed.
                cur.execute("SET session_replication_role = replica")
        written = 0
        batch = 200_000
        gen = lines()
        for lo in range(0, n, batch):  # events then their links, a batch at a time (links wait in memory)
            part = itertools.islice(gen, min(batch, n - lo))
            written += copy_lines("audit_accessevent", AUDIT_COLUMNS, part)
            copy_lines("audit_chainlink", LINK_COLUMNS, link_lines())
        ctx.loaded("audit_accessevent", written)
        ctx.loaded("audit_chainlink", written)
    finally:
        with connection.cursor() as cur:
            if replica:
                cur.execute("SET session_replication_role = origin")
            cur.execute("SELECT pg_advisory_unlock(%s)", [_LINK_LOCK])
    return written


def audit_link(*, out=print) -> int:
    """Link every queued event into the hash chain with the product's own linker (events the bench recorded)."""
    from audit.services import audit_link_chain

    total = 0
    t0 = time.perf_counter()
    while True:
        n = audit_link_chain(batch=5000, max_batches=100)
        total += n
        if n:
            out(f"  linked {total:,} events ({total / (time.perf_counter() - t0):,.0f}/s)")
        if n < 5000 * 100:
            return total
