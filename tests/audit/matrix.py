"""Expected answers of the audit: URLs: the privacy officer's alone (audit.view_reports)."""

PRIVACY_ONLY = {
    "clinician": 403,
    "colleague": 403,
    "nurse": 403,
    "front_desk": 403,
    "admin_user": 403,
    "privacy": 200,
    "anonymous": 302,
}

ENTRIES = [
    {"name": "audit:reports", "kwargs": lambda ctx: {}, "expect": PRIVACY_ONLY},
    {
        "name": "audit:patient_report",
        "kwargs": lambda ctx: {},
        "data": lambda ctx: {"mrn": ctx.other_patient.mrn},
        "expect": PRIVACY_ONLY,
    },
    {
        "name": "audit:user_report",
        "kwargs": lambda ctx: {},
        "data": lambda ctx: {"username": "dr.alice"},
        "expect": PRIVACY_ONLY,
    },
    {"name": "audit:break_glass_report", "kwargs": lambda ctx: {}, "expect": PRIVACY_ONLY},
    {
        "name": "audit:break_glass_report",
        "method": "post",
        "kwargs": lambda ctx: {},
        "expect": PRIVACY_ONLY | {"privacy": 405},
    },
]
