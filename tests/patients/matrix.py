"""Expected answers of every patients: URL for every persona (see tests/test_authorization_matrix.py).

`patient` is on clinician's and nurse's care team and in front_desk's and admin_user's department;
`other_patient` is nobody's. An outsider gets 404 (never 403): "missing" and "forbidden" look the same.
"""

import uuid

PERSONAS = ["clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous"]


def everyone(status, anonymous=302):
    return {p: status for p in PERSONAS if p != "anonymous"} | {"anonymous": anonymous}


def setup(ctx):
    from accounts.roles import Role
    from patients.models import CareTeamMember
    from patients.services import care_team_grant, patient_merge
    from tests.factories import UserFactory, make_patient

    ctx.member = CareTeamMember.objects.get(patient=ctx.patient, user=ctx.users["nurse"]).pk
    ctx.desk2 = UserFactory(username="desk.dora", roles=[Role.FRONT_DESK])
    ctx.desk_member = care_team_grant(
        patient=ctx.patient,
        user=UserFactory(username="desk.finn", roles=[Role.FRONT_DESK]),
        care_role="Scheduler",
    ).pk
    dup = make_patient(given_name="Maria", family_name="Garcia", department=ctx.patient.department, ssn=None)
    ctx.merge = patient_merge(
        actor=ctx.users["front_desk"], survivor_id=ctx.patient.pk, duplicate_id=dup.pk, reason="setup"
    ).pk
    _coverage_setup(ctx)


def _coverage_setup(ctx):
    import io

    from PIL import Image

    from patients.cards import CardImage
    from patients.coverage import coverage_add
    from patients.models import Payer

    ctx.payer = Payer.objects.create(name="Matrix Health (fictional)", payer_id="00000")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    ctx.coverage = coverage_add(
        actor=ctx.users["front_desk"],
        patient_id=ctx.patient.pk,
        data={"payer": ctx.payer, "order": 2, "member_id": "M1"},
        front=CardImage(data=buf.getvalue(), content_type="image/png"),
    ).pk


OWN_READ = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 200,
    "front_desk": 200,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": 302,
}
# Who may hand out (or take away) clinical access through the care team: the treating clinician and the practice
# admin of the patient's department. Front desk and nurses manage non-clinical members only (403 here, where the
# member is a clinician or a nurse); everyone else is an outsider (404).
CLINICAL_MEMBER = {
    "clinician": 302,
    "colleague": 404,
    "nurse": 403,
    "front_desk": 403,
    "admin_user": 302,
    "privacy": 404,
    "anonymous": 302,
}
NON_CLINICAL_MEMBER = {
    "clinician": 302,
    "colleague": 404,
    "nurse": 302,
    "front_desk": 302,
    "admin_user": 302,
    "privacy": 404,
    "anonymous": 302,
}
MERGERS = {
    "clinician": 403,
    "colleague": 403,
    "nurse": 403,
    "admin_user": 403,
    "privacy": 403,
    "anonymous": 302,
}

ENTRIES = [
    {"name": "patients:search", "kwargs": lambda ctx: {}, "expect": everyone(200)},
    {
        "name": "patients:search",
        "kwargs": lambda ctx: {},
        "data": lambda ctx: {"q": ctx.other_patient.mrn},
        "expect": everyone(200),
        "hides_other": True,
    },
    {
        "name": "patients:register",
        "kwargs": lambda ctx: {},
        "expect": {
            "clinician": 200,
            "colleague": 200,
            "nurse": 200,
            "front_desk": 200,
            "admin_user": 403,
            "privacy": 403,
            "anonymous": 302,
        },
    },
    {
        "name": "patients:register",
        "method": "post",
        "kwargs": lambda ctx: {},
        "data": lambda ctx: {
            "given_name": "New",
            "family_name": "Person",
            "birth_date": "2000-01-01",
            "sex_at_birth": "F",
            "preferred_language": "en",
        },
        "expect": {
            "clinician": 302,
            "colleague": 302,
            "nurse": 302,
            "front_desk": 302,
            "admin_user": 403,
            "privacy": 403,
            "anonymous": 302,
        },
    },
    {
        "name": "patients:break_glass",
        "kwargs": lambda ctx: {},
        "expect": {
            "clinician": 200,
            "colleague": 200,
            "nurse": 200,
            "front_desk": 403,
            "admin_user": 403,
            "privacy": 403,
            "anonymous": 302,
        },
    },
    {"name": "patients:detail", "kwargs": lambda ctx: {"patient_id": ctx.patient.pk}, "expect": OWN_READ},
    {
        "name": "patients:detail",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "expect": everyone(404),
    },
    {"name": "patients:detail", "kwargs": lambda ctx: {"patient_id": uuid.uuid4()}, "expect": everyone(404)},
    {"name": "patients:edit", "kwargs": lambda ctx: {"patient_id": ctx.patient.pk}, "expect": OWN_READ},
    {
        "name": "patients:edit",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "expect": everyone(404),
    },
    {
        "name": "patients:edit",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "data": lambda ctx: {"given_name": "Hacked"},
        "expect": everyone(404),
    },
    {
        "name": "patients:care_team_add",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "data": lambda ctx: {"member": f"user:{ctx.colleague.pk}", "care_role": "Covering"},
        "expect": CLINICAL_MEMBER,
    },
    {
        "name": "patients:care_team_add",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "data": lambda ctx: {"member": f"user:{ctx.desk2.pk}", "care_role": "Scheduler"},
        "expect": NON_CLINICAL_MEMBER,
    },
    {
        "name": "patients:care_team_add",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "data": lambda ctx: {"member": f"user:{ctx.colleague.pk}", "care_role": "Covering"},
        "expect": everyone(404),
    },
    {
        "name": "patients:care_team_add",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "expect": everyone(405),
    },
    {
        "name": "patients:care_team_remove",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "member_id": ctx.member},
        "expect": CLINICAL_MEMBER,
    },
    {
        "name": "patients:care_team_remove",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "member_id": ctx.desk_member},
        "expect": NON_CLINICAL_MEMBER,
    },
    {
        "name": "patients:care_team_remove",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk, "member_id": ctx.member},
        "expect": everyone(404),
    },
    {
        "name": "patients:merge",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "expect": MERGERS | {"front_desk": 200},
    },
    {
        "name": "patients:merge",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "expect": MERGERS | {"front_desk": 404},
    },
    {
        "name": "patients:unmerge",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "merge_id": ctx.merge},
        "expect": MERGERS | {"front_desk": 302},
    },
    {
        "name": "patients:unmerge",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk, "merge_id": ctx.merge},
        "expect": MERGERS | {"front_desk": 404},
    },
    # Insurance (patients/views_coverage.py): whoever may see the demographics sees the coverages and the card
    # photos; the care team and front desk may add and end them (each of them holds change_demographics).
    {"name": "patients:insurance", "kwargs": lambda ctx: {"patient_id": ctx.patient.pk}, "expect": OWN_READ},
    {
        "name": "patients:insurance",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "expect": everyone(404),
    },
    {
        "name": "patients:insurance",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "data": lambda ctx: {"payer": ctx.payer.pk, "order": "1", "member_id": "X9", "relationship": "self"},
        "expect": {p: (302 if s == 200 else s) for p, s in OWN_READ.items()},
    },
    {
        "name": "patients:insurance",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "data": lambda ctx: {"payer": ctx.payer.pk, "order": "1", "member_id": "X9", "relationship": "self"},
        "expect": everyone(404),
    },
    {
        "name": "patients:insurance_end",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "coverage_id": ctx.coverage},
        "expect": {p: (302 if s == 200 else s) for p, s in OWN_READ.items()},
    },
    {
        "name": "patients:insurance_end",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk, "coverage_id": ctx.coverage},
        "expect": everyone(404),
    },
    {
        "name": "patients:insurance_end",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "coverage_id": ctx.coverage},
        "expect": everyone(405),
    },
    {
        "name": "patients:insurance_card",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "coverage_id": ctx.coverage, "side": "front"},
        "expect": OWN_READ,
    },
    {
        "name": "patients:insurance_card",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk, "coverage_id": ctx.coverage, "side": "back"},
        "expect": {p: (404 if s == 200 else s) for p, s in OWN_READ.items()},  # no back photo
    },
    {
        "name": "patients:insurance_card",
        "kwargs": lambda ctx: {
            "patient_id": ctx.other_patient.pk,
            "coverage_id": ctx.coverage,
            "side": "front",
        },
        "expect": everyone(404),
    },
]
