"""Synthetic data at clinic-network scale, loaded with PostgreSQL COPY.

Seeders register themselves in order; `seed_run` calls each with a shared SeedContext. A seeder whose models or
fields are not there yet (apps still being written) prints a note and skips instead of failing, so new seeders
(prescriptions, appointments, notes ...) can be added here as those models settle.

Why COPY and not the ORM: one million patients through `save()` take hours; COPY takes seconds per 100k rows.
What COPY skips (and the product's code would do): django-auditlog entries and access events for the seeded
writes, the hash chain (see `--link`), and field encryption for most rows (ENCRYPTED_FRACTION, see below).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, transaction

from . import sizes
from .copy import copy_lines, copy_rows

BENCH_CLINICIAN = "bench.clinician"
BENCH_PRIVACY = "bench.privacy"
BENCH_DEPARTMENT = "Bench network"
BENCH_FAMILY = "Benchmark"
# given name of a named benchmark patient -> encounters it gets (when encounters can be seeded)
BENCH_PATIENTS = {"Solo": 0, "Ten": 10, "Hundred": 100, "Thousand": 1000}
# share of all audit events that name the "Thousand" patient: the per-patient report's busy chart
HOT_PATIENT_EVENT_SHARE = 0.0005


@dataclass
class SeedContext:
    counts: dict[str, int]
    rng: random.Random
    out: Callable[[str], None]
    clinician: object | None = None
    privacy: object | None = None
    providers: list = field(default_factory=list)
    department_id: int | None = None
    patient_ids: list[str] = field(default_factory=list)  # every patient seeded in this run
    granted_ids: list[str] = field(default_factory=list)  # those on the bench clinician's care team
    bench_ids: dict[str, str] = field(
        default_factory=dict
    )  # given name -> id of the named benchmark patients
    timings: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, msg: str) -> None:
        self.notes.append(msg)
        self.out(f"  note: {msg}")


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


def seed_run(
    *, counts: dict[str, int], seed: int = 2026, out=print, only: list[str] | None = None
) -> SeedContext:
    ctx = SeedContext(counts=counts, rng=random.Random(seed), out=out)
    with connection.cursor() as cur:
        # A bulk load: losing the last few hundred milliseconds on a crash is fine, waiting for fsync is not.
        cur.execute("SET synchronous_commit = off")
    for s in SEEDERS:
        if only and s.name not in only:
            continue
        t0 = time.perf_counter()
        n = s.fn(ctx)
        dt = time.perf_counter() - t0
        ctx.timings[s.name] = {
            "rows": n,
            "seconds": round(dt, 2),
            "rows_per_s": round(n / dt) if dt and n else 0,
        }
        out(f"  {s.name:<12} {n:>12,} rows  {dt:8.1f} s" + (f"  ({n / dt:,.0f} rows/s)" if n and dt else ""))
    with connection.cursor() as cur:
        t0 = time.perf_counter()
        for table in (
            "patients_patient",
            "patients_patientuserobjectpermission",
            "patients_careteammember",
            "audit_accessevent",
            "encounters_encounter",
        ):
            cur.execute("SELECT to_regclass(%s)", [table])
            if cur.fetchone()[0]:
                cur.execute(f"ANALYZE {table}")
        out(f"  {'analyze':<12} {'':>12}       {time.perf_counter() - t0:8.1f} s")
    return ctx


def foreign_patients_exist() -> bool:
    """Whether the database holds patients outside the bench department (a real or a demo database)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM patients_patient p LEFT JOIN patients_department d "
            "ON d.id = p.department_id WHERE d.name IS DISTINCT FROM %s)",
            [BENCH_DEPARTMENT],
        )
        return cur.fetchone()[0]


def _model(label: str, fields: list[str]):
    """The model, if it exists and has every field the seeder writes; else None (and why)."""
    try:
        model = apps.get_model(label)
    except LookupError:
        return None, f"{label} does not exist yet"
    for f in fields:
        try:
            model._meta.get_field(f)
        except FieldDoesNotExist:
            return None, f"{label}.{f} does not exist yet"
    # A new NOT NULL column without a default would make COPY fail: say so instead.
    for f in model._meta.concrete_fields:
        if (
            f.name not in fields
            and f.attname not in fields
            and not f.null
            and not f.has_default()
            and not f.primary_key
            and not getattr(f, "auto_now", False)
            and not getattr(f, "auto_now_add", False)
            and not f.blank
        ):
            return None, f"{label}.{f.name} is required and this seeder does not fill it yet"
    return model, ""


# ------------------------------------------------------------------ staff
@register(name="staff", order=10)
def seed_staff(ctx: SeedContext) -> int:
    """The bench clinician (care-team grants, a verified TOTP device), a privacy officer, 50 providers."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import Practitioner
    from accounts.roles import Role
    from patients.models import Department
    from patients.services import luhn_digit

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

    ctx.clinician = user(BENCH_CLINICIAN, Role.CLINICIAN, "Bench", "Clinician")
    ctx.privacy = user(BENCH_PRIVACY, Role.PRIVACY_OFFICER, "Bench", "Privacy")
    for u in (ctx.clinician, ctx.privacy):
        TOTPDevice.objects.get_or_create(user=u, name="bench", defaults={"confirmed": True})
    if not Practitioner.objects.filter(user=ctx.clinician).exists():
        body = "19" + f"{ctx.rng.randrange(10**7):07d}"
        # NPI check digit: Luhn over the prefix 80840 plus the first nine digits (accounts/validators.py).
        npi = body + luhn_digit("80840" + body)
        if not Practitioner.objects.filter(npi=npi).exists():
            Practitioner.objects.create(
                user=ctx.clinician, npi=npi, specialty="Family medicine", credentials="MD"
            )
    ctx.providers = [
        user(f"bench.provider{i:02d}", Role.CLINICIAN, "Provider", f"{i:02d}")
        for i in range(1, sizes.PROVIDERS + 1)
    ]
    dept, _ = Department.objects.get_or_create(name=BENCH_DEPARTMENT)
    ctx.department_id = dept.pk
    return made


def staff_load(ctx: SeedContext) -> None:
    """For seeders run on their own (--only): the staff made by an earlier run."""
    if ctx.clinician is None:
        seed_staff(ctx)


# ------------------------------------------------------------------ patients
PATIENT_COLUMNS = [
    "id",
    "mrn",
    "given_name",
    "middle_name",
    "family_name",
    "preferred_name",
    "suffix",
    "previous_names",
    "birth_date",
    "sex_at_birth",
    "gender_identity",
    "pronouns",
    "race",
    "ethnicity",
    "preferred_language",
    "deceased_date",
    "department_id",
    "allergy_status",
    "allergy_summary",
    "ssn",
    "ssn_bidx",
    "drivers_license",
    "phones",
    "phone_bidx",
    "email",
    "addresses",
    "emergency_contacts",
    "key_version",
    "name_search",
    "merged_into_id",
    "created_at",
    "updated_at",
]
_RACES = (
    ["2106-3"] * 60
    + ["2054-5"] * 13
    + ["2028-9"] * 6
    + ["2131-1"] * 8
    + ["UNK"] * 10
    + ["1002-5", "2076-8", "ASKU"]
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@register(name="patients", order=20)
def seed_patients(ctx: SeedContext) -> int:
    """Patients with realistic names (Faker pools), DOB, sex, MRN from the sequence + Luhn, name_search as
    patients.selectors.name_search_text computes it. Encrypted identifiers for ENCRYPTED_FRACTION of rows."""
    n = ctx.counts.get("patients", 0)
    if not n:
        return 0
    staff_load(ctx)
    from patients import crypto
    from patients.selectors import name_search_text
    from patients.services import luhn_digit

    from .names import NamePools

    pools = NamePools()
    rng = ctx.rng
    key_version = crypto.current_key_version()
    now = datetime.now(UTC).isoformat()
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
                if named:  # the named benchmark patients come first
                    given, middle, family = named.pop(0), "", BENCH_FAMILY
                    ctx.bench_ids[given] = pid
                body = f"{seqs[i]:07d}"
                age_days = int(rng.triangular(0, 100 * 365.25, 40 * 365.25))
                birth = today - timedelta(days=age_days)
                sex = sexes[i] if rng.random() > 0.005 else "UNK"
                preferred = given[:3] if rng.random() < 0.02 else ""
                ssn = ssn_bidx = phones = email = None
                phone_bidx: list[str] = []
                if rng.random() < sizes.ENCRYPTED_FRACTION:
                    ssn_plain = f"{rng.randrange(100, 900):03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
                    phone = f"555-{rng.randrange(100, 1000):03d}-{rng.randrange(10000):04d}"
                    ssn = crypto.encrypt(ssn_plain, context="ssn")
                    ssn_bidx = crypto.blind_index("ssn", crypto.digits(ssn_plain))
                    phones = crypto.encrypt(
                        json.dumps([{"use": "mobile", "value": phone}], sort_keys=True), context="phones"
                    )
                    phone_bidx = [crypto.blind_index("phone", crypto.normalise_phone(phone))]
                    email = crypto.encrypt(f"{crypto.digits(body)}@example.test", context="email")
                yield (
                    pid,
                    body + luhn_digit(body),
                    given,
                    middle,
                    family,
                    preferred,
                    "",
                    "[]",
                    birth.isoformat(),
                    sex,
                    "",
                    "",
                    [rng.choice(_RACES)],
                    "2135-2" if rng.random() < 0.19 else "2186-5",
                    "es" if rng.random() < 0.1 else "en",
                    None,
                    ctx.department_id,
                    "unknown",
                    "",
                    ssn,
                    ssn_bidx or "",
                    None,
                    phones,
                    phone_bidx,
                    email,
                    None,
                    None,
                    key_version,
                    name_search_text(given=given, middle=middle, family=family, preferred=preferred),
                    None,
                    now,
                    now,
                )
                ctx.patient_ids.append(pid)
                if given in BENCH_PATIENTS and family == BENCH_FAMILY or rng.random() < sizes.GRANT_FRACTION:
                    ctx.granted_ids.append(pid)
            written += k

    copy_rows("patients_patient", PATIENT_COLUMNS, rows())
    return written


# ------------------------------------------------------------------ care-team grants
@register(name="grants", order=30)
def seed_grants(ctx: SeedContext) -> int:
    """The bench clinician on the care team of GRANT_FRACTION of patients and of every named benchmark patient:
    one guardian row per permission per patient (what patients.services.care_team_grant writes)."""
    if not ctx.granted_ids:
        return 0
    staff_load(ctx)
    from django.contrib.auth.models import Permission

    from accounts import roles

    perms = roles.patient_permissions_for_roles(roles.user_roles(ctx.clinician))
    perm_ids = list(
        Permission.objects.filter(
            content_type__app_label="patients", content_type__model="patient", codename__in=perms
        ).values_list("id", flat=True)
    )
    uid = ctx.clinician.pk
    now = datetime.now(UTC).isoformat()
    n = copy_rows(
        "patients_patientuserobjectpermission",
        ["permission_id", "user_id", "content_object_id"],
        ((perm, uid, pid) for pid in ctx.granted_ids for perm in perm_ids),
    )
    n += copy_rows(
        "patients_careteammember",
        ["patient_id", "user_id", "group_id", "care_role", "added_at", "added_by_id"],
        ((pid, uid, None, "Primary care physician", now, None) for pid in ctx.granted_ids),
    )
    return n


# ------------------------------------------------------------------ encounters (optional: the model is new)
@register(name="encounters", order=40)
def seed_encounters(ctx: SeedContext) -> int:
    """Encounters: 10 / 100 / 1,000 for the named benchmark patients, a few heavy patients with 1,000+, the rest
    spread over random patients. Notes, vitals, problems, allergies and prescriptions are not seeded yet."""
    n = ctx.counts.get("encounters", 0)
    if not n:
        return 0
    cols = [
        "id",
        "patient",
        "appointment",
        "encounter_type",
        "reason",
        "provider",
        "location",
        "status",
        "start",
        "end",
        "created_at",
    ]
    model, why = _model("encounters.Encounter", cols)
    if model is None:
        ctx.note(f"encounters skipped: {why}")
        return 0
    staff_load(ctx)
    if not ctx.patient_ids:
        ctx.note("encounters skipped: no patients seeded in this run")
        return 0
    rng = ctx.rng
    now = datetime.now(UTC)
    reasons = [
        "Follow-up",
        "Annual physical",
        "Cough",
        "Hypertension follow-up",
        "Back pain",
        "Diabetes review",
        "Medication refill",
        "Rash",
        "Headache",
        "Well child visit",
        "Anxiety",
        "Knee pain",
    ]
    types = ["office"] * 7 + ["telehealth"] * 2 + ["phone", "urgent", "wellness"]
    targets: list[tuple[str, int]] = [
        (ctx.bench_ids[g], c) for g, c in BENCH_PATIENTS.items() if c and g in ctx.bench_ids
    ]
    named = sum(c for _, c in targets)
    heavy = max(
        0, min(20, (n - named) // 20_000)
    )  # a few patients with 1,000+ encounters at small and full size
    targets += [(rng.choice(ctx.patient_ids), 1000 + rng.randrange(500)) for _ in range(heavy)]
    rest = max(0, n - sum(c for _, c in targets))
    provider_ids = [p.pk for p in ctx.providers] or [ctx.clinician.pk]
    span = 10 * 365 * 86400

    now_iso = now.isoformat()

    def rows():
        def one(pid):
            start = now - timedelta(seconds=rng.randrange(span))
            return (
                _uuid(rng),
                pid,
                None,
                rng.choice(types),
                rng.choice(reasons),
                rng.choice(provider_ids),
                None,
                "finished",
                start.isoformat(),
                (start + timedelta(minutes=20)).isoformat(),
                now_iso,
            )

        for pid, count in targets:
            for _ in range(count):
                yield one(pid)
        for _ in range(rest):
            yield one(rng.choice(ctx.patient_ids))

    db_cols = [model._meta.get_field(c).column for c in cols]
    written = copy_rows(model._meta.db_table, db_cols, rows())
    ctx.note(
        "notes, vitals, problems, allergies, prescriptions and appointments are not seeded yet "
        "(add seeders in bench/seeders.py once those models settle)"
    )
    return written


# ------------------------------------------------------------------ audit events
AUDIT_COLUMNS = [
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


def audit_partitions_for(start: date, end: date) -> list[str]:
    """Monthly partitions of audit_accessevent covering [start, end], named as audit.services names them.

    audit_ensure_partitions makes last month to three ahead; older months are made here, before the load, so
    seeded rows do not land in the default partition."""
    from audit.services import audit_ensure_partitions

    audit_ensure_partitions()
    made = []
    month = start.replace(day=1)
    with connection.cursor() as cur:
        while month <= end:
            nxt = (month + timedelta(days=32)).replace(day=1)
            name = f"audit_accessevent_{month:%Y%m}"
            cur.execute("SELECT to_regclass(%s)", [name])
            if cur.fetchone()[0] is None:
                with transaction.atomic():
                    cur.execute(
                        f"CREATE TABLE {name} PARTITION OF audit_accessevent FOR VALUES FROM (%s) TO (%s)",
                        [month.isoformat(), nxt.isoformat()],
                    )
                made.append(name)
            month = nxt
    return made


@register(name="audit", order=50)
def seed_audit(ctx: SeedContext) -> int:
    """Access events over AUDIT_MONTHS months, in time order (ids grow with time, as in production): chart views
    (one patient), searches and lists (1-20 patients in patient_ids), writes, a few denials and break-the-glass."""
    n = ctx.counts.get("audit_events", 0)
    if not n:
        return 0
    staff_load(ctx)
    ids = ctx.patient_ids
    if not ids:
        with connection.cursor() as cur:
            cur.execute("SELECT id::text FROM patients_patient")
            ids = [r[0] for r in cur.fetchall()]
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

    def pick() -> str:
        if hot and random_() < HOT_PATIENT_EVENT_SHARE:
            return hot
        # skewed: a small share of patients (chronic care) is opened far more often
        return ids[int(n_ids * random_() ** 2.5)]

    def lines():
        for i in range(n):
            ts = datetime.fromtimestamp(t0 + span * (i + random_()) / n, UTC).isoformat()
            aid, aname = (
                actors[rng.choices(range(len(actors)), cum_weights=actor_cum)[0]]
                if random_() < 0.97
                else (ctx.privacy.pk, ctx.privacy.username)
            )
            r = random_()
            pid, pids, detail = "\\N", "{}", "{}"
            if r < 0.75:
                action, cat, pid = "view", view_cats[int(random_() * len(view_cats))], pick()
            elif r < 0.90:
                action, cat = "list", "patient list"
                pids = "{" + ",".join(pick() for _ in range(1 + int(random_() * 20))) + "}"
                detail = '{"query_kind": "name"}'
            elif r < 0.98:
                action, cat, pid = ("update" if r < 0.95 else "create"), "encounter", pick()
            else:
                action, cat, pid = ("print" if r < 0.99 else "export"), "chart summary", pick()
            outcome = "denied" if random_() < 0.01 else "success"
            glass = "t" if random_() < 0.0005 else "f"
            channel = "ui" if random_() < 0.9 else ("api" if random_() < 0.5 else "task")
            ip = f"10.{getrandbits(8)}.{getrandbits(8)}.{getrandbits(8)}"
            req = uuid.UUID(int=getrandbits(128), version=4)
            yield (
                f"{ts}\t{aid}\t{aname}\t{pid}\t{pids}\t{action}\t{cat}\t{outcome}\t{ip}\t{glass}\t{channel}"
                f"\t{req}\t{detail}\n"
            )

    return copy_lines("audit_accessevent", AUDIT_COLUMNS, lines())


def audit_link(*, out=print) -> int:
    """Link every unlinked event into the hash chain with the product's own linker (slow at 10M: minutes)."""
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
