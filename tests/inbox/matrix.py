"""Expected answers of the inbox URLs per persona (see tests/test_authorization_matrix.py).

The item is in the clinician's queue, about ctx.patient. The door comes first: the front desk (who sees the
patient's banner but not their clinical record) is told so with a 403; everyone else outside the item's queues,
the nurse on the care team included, gets 404."""


def setup(ctx):
    from inbox import sources
    from inbox.models import Kind, Priority

    ctx.item, _ = sources.post_item(
        kind=Kind.RESULT,
        priority=Priority.ABNORMAL,
        title="LDL cholesterol: 190 mg/dL (high)",
        source_ref="matrix:1",
        patient=ctx.patient,
        assignee=ctx.clinician,
    )


_LOGIN = 302
_ANY_USER = {
    "clinician": 200,
    "colleague": 200,
    "nurse": 200,
    "front_desk": 200,
    "admin_user": 200,
    "privacy": 200,
    "anonymous": _LOGIN,
}


def _item(ok: int) -> dict:
    return {
        "clinician": ok,
        "colleague": 404,
        "nurse": 404,
        "front_desk": 403,
        "admin_user": 404,
        "privacy": 404,
        "anonymous": _LOGIN,
    }


def _kw(ctx):
    return {"item_id": ctx.item.pk}


ENTRIES = [
    # Everyone may open the page; it lists only their own queues' items on patients whose chart they may open.
    {"name": "inbox:inbox", "kwargs": {}, "method": "get", "expect": _ANY_USER},
    {"name": "inbox:item", "kwargs": _kw, "method": "get", "expect": _item(200)},
    {"name": "inbox:seen", "kwargs": _kw, "method": "post", "expect": _item(204)},
    {
        "name": "inbox:sign_off",
        "kwargs": _kw,
        "method": "post",
        "data": {"comment": "Diet first"},
        "expect": _item(302),
    },
    {
        "name": "inbox:forward",
        "kwargs": _kw,
        "method": "post",
        "data": lambda ctx: {"to_user": ctx.nurse.pk, "note": "Please call"},
        "expect": _item(302),
    },
    {
        "name": "inbox:task",
        "kwargs": _kw,
        "method": "post",
        "data": {"title": "Call patient", "due": ""},
        "expect": _item(302),
    },
    {
        "name": "inbox:notify",
        "kwargs": _kw,
        "method": "post",
        "data": {"message": "Your cholesterol is high; we will call you."},
        "expect": _item(302),
    },
]
