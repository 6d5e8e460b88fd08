"""Expected answers of the clinic settings URLs per persona (see tests/test_authorization_matrix.py): only the
practice admin holds the clinic's permissions; everyone else signed in gets the 403 page, anonymous users the
login redirect. POST-only views asked with a GET: 405 for the admin (the permission is checked first)."""


def setup(ctx):
    from encounters.models import NoteTemplate
    from scheduling.models import AppointmentType, Location, Room

    ctx.location = Location.objects.create(name="Matrix clinic")
    ctx.room = Room.objects.create(location=ctx.location, name="Matrix room")
    ctx.atype, _ = AppointmentType.objects.get_or_create(
        name="Matrix type", defaults={"duration_minutes": 20}
    )
    ctx.template = NoteTemplate.objects.create(name="Matrix template", encounter_type="office")


def only_admin(status, *, others=403, anonymous=302):
    return {
        "clinician": others,
        "colleague": others,
        "nurse": others,
        "front_desk": others,
        "admin_user": status,
        "privacy": others,
        "anonymous": anonymous,
    }


def _loc(ctx):
    return {"location_id": ctx.location.pk}


def _room(ctx):
    return {"location_id": ctx.location.pk, "room_id": ctx.room.pk}


ENTRIES = [
    {"name": "clinic:overview", "expect": only_admin(200)},
    {"name": "clinic:locations", "expect": only_admin(200)},
    {
        "name": "clinic:locations",
        "method": "post",
        "data": {"name": "Northside", "address": "9 North Rd"},
        "expect": only_admin(302),
    },
    {"name": "clinic:location", "kwargs": _loc, "expect": only_admin(200)},
    {
        "name": "clinic:location",
        "kwargs": _loc,
        "method": "post",
        "data": {"name": "Matrix clinic, renamed", "address": ""},
        "expect": only_admin(302),
    },
    {"name": "clinic:location_active", "kwargs": _loc, "expect": only_admin(405)},
    {
        "name": "clinic:location_active",
        "kwargs": _loc,
        "method": "post",
        "data": {"active": "0"},
        "expect": only_admin(302),
    },
    {"name": "clinic:room_add", "kwargs": _loc, "expect": only_admin(405)},
    {
        "name": "clinic:room_add",
        "kwargs": _loc,
        "method": "post",
        "data": {"name": "Room 9"},
        "expect": only_admin(302),
    },
    {"name": "clinic:room", "kwargs": _room, "expect": only_admin(405)},
    {
        "name": "clinic:room",
        "kwargs": _room,
        "method": "post",
        "data": {"active": "0"},
        "expect": only_admin(302),
    },
    {"name": "clinic:hours", "expect": only_admin(200)},
    {
        "name": "clinic:provider_hours",
        "kwargs": lambda ctx: {"provider_id": ctx.clinician.pk},
        "expect": only_admin(200),
    },
    {
        "name": "clinic:provider_hours",
        "kwargs": lambda ctx: {"provider_id": ctx.clinician.pk},
        "method": "post",
        "data": {},
        "expect": only_admin(302),
    },
    # A user who is no provider (the nurse has no practitioner profile): not found, for the admin too.
    {
        "name": "clinic:provider_hours",
        "kwargs": lambda ctx: {"provider_id": ctx.nurse.pk},
        "expect": only_admin(404),
    },
    {"name": "clinic:types", "expect": only_admin(200)},
    {"name": "clinic:type_new", "expect": only_admin(200)},
    {
        "name": "clinic:type_new",
        "method": "post",
        "data": {
            "name": "Matrix new type",
            "duration_minutes": "30",
            "colour": "green",
            "modality": "in_person",
            "encounter_type": "office",
            "offered": "on",
        },
        "expect": only_admin(302),
    },
    {"name": "clinic:type_edit", "kwargs": lambda ctx: {"type_id": ctx.atype.pk}, "expect": only_admin(200)},
    {
        "name": "clinic:type_offered",
        "kwargs": lambda ctx: {"type_id": ctx.atype.pk},
        "expect": only_admin(405),
    },
    {
        "name": "clinic:type_offered",
        "kwargs": lambda ctx: {"type_id": ctx.atype.pk},
        "method": "post",
        "data": {"offered": "0"},
        "expect": only_admin(302),
    },
    {"name": "clinic:templates", "expect": only_admin(200)},
    {"name": "clinic:template_new", "expect": only_admin(200)},
    {
        "name": "clinic:template_edit",
        "kwargs": lambda ctx: {"template_id": ctx.template.pk},
        "expect": only_admin(200),
    },
    {"name": "clinic:units", "expect": only_admin(200)},
    {
        "name": "clinic:units",
        "method": "post",
        "data": {"temperature": "Cel", "weight": "kg", "height": "cm"},
        "expect": only_admin(302),
    },
]
