"""Encounters, with each one's note, vitals, results and prescription (timeline and medication-list row)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from .. import sizes
from ..copy import Table
from .base import BENCH_PATIENTS, SeedContext, _uuid, register
from .charts import patients_load
from .reference import PANELS, reference_load

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
