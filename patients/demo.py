"""Demo patients for `manage.py demo_data` (development only): a clinic's worth of people with Faker names, each on
a clinician's and the nurse's care team, plus a near-duplicate pair for the duplicate-detection and merge demo."""

from __future__ import annotations

from datetime import date, timedelta

from audit.models import Action
from audit.services import access_record

from .models import Department, Patient
from .services import care_team_grant, mrn_next, patient_derive


def demo_department_create(*, members) -> Department:
    """The demo clinic's department, with every demo staff member in it."""
    dept = Department.objects.get_or_create(name="Family Medicine")[0]
    dept.members.add(*members)
    return dept


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
            phones=[{"use": "mobile", "value": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"}],
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
                    "phone": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
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
