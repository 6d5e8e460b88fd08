"""Expected answers of the scheduling URLs per persona (see tests/test_authorization_matrix.py).

POST-only views are listed with a GET: signed-in users get 405 (wrong method), anonymous users the login redirect.
"""


def setup(ctx):
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from scheduling.models import Appointment, AppointmentType, TimeOff, WaitlistEntry

    clinician = getattr(ctx, "clinician", None) or get_user_model().objects.get(username="dr.alice")
    ctx.enc_provider = clinician
    atype, _ = AppointmentType.objects.get_or_create(name="Matrix visit", defaults={"duration_minutes": 20})
    start = timezone.now() + timedelta(days=2)
    ctx.appointment = Appointment.objects.create(
        patient=ctx.patient,
        provider=clinician,
        appointment_type=atype,
        start=start,
        end=start + timedelta(minutes=20),
    )
    ctx.time_off = TimeOff.objects.create(provider=clinician, start=start, end=start + timedelta(hours=1))
    ctx.waitlist_entry = WaitlistEntry.objects.create(
        patient=ctx.patient,
        provider=clinician,
        appointment_type=atype,
        earliest=start.date(),
        latest=start.date(),
    )


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
_FEED = {**_SCHEDULE_STAFF, "privacy": 404}
_PATIENT_SCHEDULE = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 200,
    "front_desk": 200,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}
_CALENDAR_MANAGERS = {
    "clinician": 403,
    "colleague": 403,
    "nurse": 403,
    "front_desk": 200,
    "admin_user": 200,
    "privacy": 403,
    "anonymous": _LOGIN,
}
_NOBODY = {
    p: 404 for p in ("clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous")
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


def _appt(ctx):
    return {"appointment_id": ctx.appointment.pk}


ENTRIES = [
    {"name": "scheduling:day_list", "kwargs": _none, "method": "get", "expect": _SCHEDULE_STAFF},
    {"name": "scheduling:week", "kwargs": _none, "method": "get", "expect": _SCHEDULE_STAFF},
    {"name": "scheduling:slots", "kwargs": _none, "method": "get", "expect": _SCHEDULE_STAFF},
    # A slot picked on the calendar: find the patient (the search shows only patients one may see).
    {"name": "scheduling:book_slot", "kwargs": _none, "method": "get", "expect": _SCHEDULE_STAFF},
    {"name": "scheduling:waitlist", "kwargs": _none, "method": "get", "expect": _SCHEDULE_STAFF},
    {
        "name": "scheduling:provider_ical",
        "kwargs": lambda ctx: {"provider_id": ctx.enc_provider.pk},
        "method": "get",
        "expect": _FEED,
    },
    {"name": "scheduling:time_off", "kwargs": _none, "method": "get", "expect": _CALENDAR_MANAGERS},
    {
        "name": "scheduling:time_off_delete",
        "kwargs": lambda ctx: {"time_off_id": ctx.time_off.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
    {"name": "scheduling:calendar_feed", "kwargs": _none, "method": "get", "expect": _SCHEDULE_STAFF},
    # A calendar app's subscription: no session; an unknown token is 404 for everyone, signed in or not.
    {
        "name": "scheduling:provider_feed_ics",
        "kwargs": lambda ctx: {"token": "not-a-valid-token"},
        "method": "get",
        "expect": _NOBODY,
    },
    {"name": "scheduling:patient_schedule", "kwargs": _patient, "method": "get", "expect": _PATIENT_SCHEDULE},
    {"name": "scheduling:appointment_book", "kwargs": _patient, "method": "get", "expect": _PATIENT_SCHEDULE},
    {"name": "scheduling:waitlist_add", "kwargs": _patient, "method": "get", "expect": _PATIENT_SCHEDULE},
    {"name": "scheduling:appointment_detail", "kwargs": _appt, "method": "get", "expect": _PATIENT_SCHEDULE},
    {"name": "scheduling:appointment_move", "kwargs": _appt, "method": "get", "expect": _POST_ONLY},
    {"name": "scheduling:appointment_cancel", "kwargs": _appt, "method": "get", "expect": _POST_ONLY},
    {"name": "scheduling:appointment_advance", "kwargs": _appt, "method": "get", "expect": _POST_ONLY},
    {
        "name": "scheduling:waitlist_accept",
        "kwargs": lambda ctx: {"entry_id": ctx.waitlist_entry.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
    {
        "name": "scheduling:waitlist_remove",
        "kwargs": lambda ctx: {"entry_id": ctx.waitlist_entry.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
    {
        "name": "scheduling:waitlist_decline",
        "kwargs": lambda ctx: {"entry_id": ctx.waitlist_entry.pk},
        "method": "get",
        "expect": _POST_ONLY,
    },
]
