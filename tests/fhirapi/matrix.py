"""FHIR API URLs in the authorization matrix. The API takes bearer tokens only: a signed-in session is no
credential here, so every persona gets 401 (metadata is public; unknown paths are 404 for everyone)."""

ALL_401 = dict.fromkeys(
    ("clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous"), 401
)
ALL_200 = dict.fromkeys(ALL_401, 200)
ALL_404 = dict.fromkeys(ALL_401, 404)

ENTRIES = [
    {"name": "fhirapi:metadata", "kwargs": lambda ctx: {}, "method": "get", "expect": ALL_200},
    {
        "name": "fhirapi:read",
        "kwargs": lambda ctx: {
            "resource_type": "Patient",
            "resource_id": "00000000-0000-0000-0000-000000000000",
        },
        "method": "get",
        "expect": ALL_401,
    },
    {
        "name": "fhirapi:search",
        "kwargs": lambda ctx: {"resource_type": "Patient"},
        "method": "get",
        "expect": ALL_401,
    },
    {
        "name": "fhirapi:not_found",
        "kwargs": lambda ctx: {"rest": "Patient/x/$meta"},
        "method": "get",
        "expect": ALL_404,
    },
]

STAFF = ("clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy")
CLINICAL_ON_TEAM = {
    "clinician": 200,
    "nurse": 200,
    "colleague": 404,
    "front_desk": 404,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": 302,
}

ENTRIES += [
    {
        "name": "fhirapi:everything",
        "kwargs": lambda ctx: {"patient_id": str(ctx.patient.pk)},
        "expect": ALL_401,
    },
    {"name": "fhirapi:smart_configuration", "expect": ALL_200},
    {"name": "smart_configuration", "expect": ALL_200},
    # The consent page: sign-in first; a signed-in user without an app's parameters gets the toolkit's error
    # page (nothing about any patient on it).
    {"name": "smart_authorize", "expect": {**dict.fromkeys(STAFF, 400), "anonymous": 302}},
    # front_desk sees the patient but may not export the clinical record: told so (403).
    {
        "name": "export:ehi",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "expect": {**CLINICAL_ON_TEAM, "front_desk": 403},
    },
    {
        "name": "export:ehi",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "expect": {**dict.fromkeys(STAFF, 404), "anonymous": 302},
    },
    {"name": "export:ehi_format", "expect": ALL_200},
    # The Bulk Data exports page: the practice admin follows the jobs; other staff are told they may not (403).
    {
        "name": "export:jobs",
        "expect": {**dict.fromkeys(STAFF, 403), "admin_user": 200, "anonymous": 302},
    },
    # EHR launch from the chart (fhirapi/launch.py): the app list for a patient the user may open; a POST without
    # a registered app is a 404 (no launch value is made).
    {
        "name": "smart_launch",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        # The front desk sees the patient but not the clinical record: a plain 403 (issue 17 item 5).
        "expect": {**CLINICAL_ON_TEAM, "front_desk": 403},
    },
    {
        "name": "smart_launch",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "expect": {**dict.fromkeys(STAFF, 404), "anonymous": 302},
    },
    {
        "name": "smart_launch",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "data": {"app": "1"},
        "expect": {**CLINICAL_ON_TEAM, "clinician": 404, "nurse": 404, "front_desk": 403},
    },
]

# Bulk Data export: bearer tokens only (a session is no credential), so 401 for every persona.
ENTRIES += [
    {"name": "fhirapi:export_system", "expect": ALL_401},
    {"name": "fhirapi:export_patients", "expect": ALL_401},
    {"name": "fhirapi:export_group", "kwargs": lambda ctx: {"group_id": "1"}, "expect": ALL_401},
    {
        "name": "fhirapi:export_status",
        "kwargs": lambda ctx: {"job_id": "00000000-0000-0000-0000-000000000000"},
        "expect": ALL_401,
    },
    {
        "name": "fhirapi:export_file",
        "kwargs": lambda ctx: {"job_id": "00000000-0000-0000-0000-000000000000", "resource_type": "Patient"},
        "expect": ALL_401,
    },
]

# Writes (fhirapi/write_views.py): bearer tokens only, so 401 for every persona, whatever the method (PUT, which
# the matrix does not send, is in tests/fhir/test_write.py).
PATIENT_ID = "00000000-0000-0000-0000-000000000000"
ENTRIES += [
    {"name": "fhirapi:root", "method": "post", "data": {}, "expect": ALL_401},
    {
        "name": "fhirapi:search",
        "method": "post",
        "data": {},
        "kwargs": lambda ctx: {"resource_type": "Observation"},
        "expect": ALL_401,
    },
    {
        "name": "fhirapi:history",
        "kwargs": lambda ctx: {"resource_type": "Patient", "resource_id": PATIENT_ID},
        "expect": ALL_401,
    },
    {
        "name": "fhirapi:vread",
        "kwargs": lambda ctx: {"resource_type": "Patient", "resource_id": PATIENT_ID, "version_id": "1"},
        "expect": ALL_401,
    },
]
