"""Expected answers of the encounters URLs per persona (see tests/test_authorization_matrix.py).

POST-only views are listed with a GET: signed-in users get 405 (wrong method), anonymous users the login redirect.
"""


def setup(ctx):

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from encounters.models import (
        Allergy,
        AmendmentRequest,
        Encounter,
        Icd10Code,
        MedicationStatement,
        Note,
        Problem,
    )

    clinician = getattr(ctx, "clinician", None) or get_user_model().objects.get(username="dr.alice")
    ctx.encounter = Encounter.objects.create(patient=ctx.patient, provider=clinician, start=timezone.now())
    ctx.note = Note.objects.create(
        encounter=ctx.encounter, patient=ctx.patient, author=clinician, subjective="S"
    )
    ctx.amendment = AmendmentRequest.objects.create(patient=ctx.patient, note=ctx.note, requested_text="x")
    icd, _ = Icd10Code.objects.get_or_create(
        code="I10", defaults={"description": "Essential (primary) hypertension"}
    )
    ctx.problem = Problem.objects.create(patient=ctx.patient, code=icd, description=icd.description)
    ctx.allergy = Allergy.objects.create(patient=ctx.patient, substance_text="Peanut", category="food")
    ctx.medication = MedicationStatement.objects.create(patient=ctx.patient, name="Ibuprofen 200 mg")


_LOGIN = 302
_SCHEDULE_STAFF = {
    "clinician": 200,
    "colleague": 200,
    "nurse": 200,
    "front_desk": 200,
    "admin_user": 200,
    "privacy": 403,
    "anonymous": _LOGIN,
}
# front_desk sees the patient but not the clinical record: told so (403), not hidden (404).
_CLINICAL_READ = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 200,
    "front_desk": 403,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}
_CLINICAL_ROLE = {
    "clinician": 200,
    "colleague": 200,
    "nurse": 200,
    "front_desk": 403,
    "admin_user": 403,
    "privacy": 403,
    "anonymous": _LOGIN,
}
_POST_ONLY = {
    "clinician": 405,
    "colleague": 405,
    "nurse": 405,
    "front_desk": 405,
    "admin_user": 405,
    "privacy": 405,
    "anonymous": _LOGIN,
}


def _none(ctx):
    return {}


def _patient(ctx):
    return {"patient_id": ctx.patient.pk}


def _enc(ctx):
    return {"encounter_id": ctx.encounter.pk}


def _note(ctx):
    return {"note_id": ctx.note.pk}


ENTRIES = [
    {"name": "encounters:timeline", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:vitals_trend", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:problems", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:allergies", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:medications", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:immunizations", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:results", "kwargs": _patient, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:allergen_search", "kwargs": _none, "method": "get", "expect": _CLINICAL_ROLE},
    {
        "name": "encounters:problem_status",
        "kwargs": lambda ctx: {"problem_id": ctx.problem.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
    {
        "name": "encounters:allergy_status",
        "kwargs": lambda ctx: {"allergy_id": ctx.allergy.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
    {
        "name": "encounters:medication_stop",
        "kwargs": lambda ctx: {"medication_id": ctx.medication.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
    {"name": "encounters:encounter_detail", "kwargs": _enc, "method": "get", "expect": _CLINICAL_READ},
    {"name": "encounters:icd10_search", "kwargs": _none, "method": "get", "expect": _CLINICAL_ROLE},
    {"name": "encounters:encounter_start", "kwargs": _patient, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:note_create", "kwargs": _enc, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:vitals_add", "kwargs": _enc, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:diagnoses", "kwargs": _enc, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:encounter_finish", "kwargs": _enc, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:note_save", "kwargs": _note, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:addendum_add", "kwargs": _note, "method": "get", "expect": _POST_ONLY},
    {"name": "encounters:amendment_add", "kwargs": _note, "method": "get", "expect": _POST_ONLY},
    {
        "name": "encounters:amendment_decide",
        "kwargs": lambda ctx: {"amendment_id": ctx.amendment.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
]
