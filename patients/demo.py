"""Demo patients for `manage.py demo_data` (development only): a clinic's worth of people with Faker names, each on
a clinician's and the nurse's care team, plus a near-duplicate pair for the duplicate-detection and merge demo."""

from __future__ import annotations

from datetime import date, timedelta

from audit.models import Action
from audit.services import access_record

from .models import Coverage, Department, Patient, Payer
from .services import care_team_grant, mrn_next, patient_derive


def demo_department_create(*, members) -> Department:
    """The demo clinic's department, with every demo staff member in it."""
    dept = Department.objects.get_or_create(name="Family Medicine")[0]
    dept.members.add(*members)
    return dept


# Real US payers with their widely published electronic payer ids (clearinghouse payer lists), so the demo looks
# like a clinic's; Medicare's id depends on the state's contractor and is left empty. Member ids are invented.
DEMO_PAYERS = [
    ("Aetna", "60054"),
    ("Cigna", "62308"),
    ("Humana", "61101"),
    ("UnitedHealthcare", "87726"),
    ("Medicare Part B", ""),
]


def _demo_phone(rng) -> str:
    """A number in the range set aside for fiction (555-0100 to 555-0199), valid in E.164."""
    return f"+1{rng.choice(['202', '312', '415', '617', '713'])}5550{rng.randint(100, 199)}"


def demo_payers_create() -> list[Payer]:
    return [Payer.objects.get_or_create(name=n, defaults={"payer_id": pid})[0] for n, pid in DEMO_PAYERS]


def demo_coverages_create(*, patients, rng, fake) -> int:
    """Most demo patients (about 85%) get a primary coverage, some a secondary; a child's is their parent's."""
    payers = demo_payers_create()
    rows = []
    for p in patients:
        if rng.random() >= 0.85:
            continue
        child = (date.today() - p.birth_date).days < 18 * 365
        base = rng.randrange(len(payers))
        for order in (1, 2) if rng.random() < 0.15 else (1,):
            rows.append(
                Coverage(
                    patient=p,
                    payer=payers[(base + order - 1) % len(payers)],
                    order=order,
                    member_id=f"W{rng.randint(10**8, 10**9 - 1)}",
                    group_number=f"{rng.randint(10000, 99999)}" if rng.random() < 0.8 else "",
                    relationship="child" if child else "self",
                    subscriber_name=f"{fake.first_name()} {p.family_name}" if child else "",
                    subscriber_birth_date=p.birth_date - timedelta(days=365 * 28) if child else None,
                )
            )
    Coverage.objects.bulk_create(rows)
    return len(rows)


def demo_patients_create(*, count: int, department, clinicians, nurse, rng, fake) -> list[Patient]:
    """`count` patients (and one near-duplicate, not returned); one audit event names them all."""
    made = []
    for i in range(count):
        sex = rng.choice("FM")
        first = fake.first_name_female() if sex == "F" else fake.first_name_male()
        birth = fake.date_of_birth(minimum_age=0, maximum_age=95)
        p = Patient(
            given_name=first,
            family_name=fake.last_name(),
            birth_date=birth,
            sex_at_birth=sex,
            middle_name=fake.first_name() if rng.random() < 0.3 else "",
            preferred_name=(first[:3] if rng.random() < 0.08 else ""),
            pronouns={"F": "she/her", "M": "he/him"}[sex] if rng.random() < 0.5 else "",
            race=[rng.choice(["2106-3", "2054-5", "2028-9", "1002-5", "2076-8", "2131-1"])],
            ethnicity=rng.choice(["2135-2", "2186-5", "2186-5", "ASKU"]),
            preferred_language=rng.choice(["en"] * 8 + ["es", "vi"]),
            phones=[{"use": "mobile", "value": _demo_phone(rng)}],
            email=f"{first.lower()}.{i}@mail.example",
            addresses=[
                {
                    "use": "home",
                    "line": fake.street_address(),
                    "city": fake.city(),
                    "state": fake.state_abbr(),
                    "postal_code": fake.zipcode(),
                    "country": "US",
                }
            ],
            emergency_contacts=[
                {
                    "name": fake.name(),
                    "relationship": rng.choice(["spouse", "parent", "sibling", "friend"]),
                    "phone": _demo_phone(rng),
                }
            ],
            ssn=f"{rng.randint(100, 665):03d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            department=department,
        )
        if i % 40 == 7:
            p.deceased_date = min(date.today(), birth + timedelta(days=365 * 60))
            if p.deceased_date < birth:
                p.deceased_date = None
        p.mrn = mrn_next()
        patient_derive(p)
        made.append(p)
    Patient.objects.bulk_create(made)
    demo_coverages_create(patients=made, rng=rng, fake=fake)
    for idx, p in enumerate(made):
        care_team_grant(patient=p, user=clinicians[idx % len(clinicians)], care_role="Primary care physician")
        care_team_grant(patient=p, user=nurse, care_role="Nurse")
    # A near-duplicate pair for the merge and duplicate-detection demo.
    twin = made[3]
    dup = Patient(
        given_name=twin.given_name,
        family_name=twin.family_name + "e",
        birth_date=twin.birth_date,
        sex_at_birth=twin.sex_at_birth,
        phones=twin.phones,
        department=department,
    )
    dup.mrn = mrn_next()
    patient_derive(dup)
    dup.save(force_insert=True)
    access_record(
        actor=None,
        action=Action.CREATE,
        category="demographics",
        channel="command",
        patient_ids=[p.pk for p in made] + [dup.pk],
        detail={"demo_data": len(made) + 1},
    )
    return made
