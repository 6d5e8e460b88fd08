"""Patients (with their problems, allergies and immunizations) and the bench clinician's care-team grants."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

from django.db import connection

from .. import sizes
from ..copy import Table
from .base import BENCH_FAMILY, BENCH_PATIENTS, SeedContext, _uuid, register
from .reference import reference_load

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
    from patients.mrn import luhn_digit
    from patients.selectors import name_search_text

    from ..names import NamePools

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
