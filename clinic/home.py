"""The practice admin's home panel: the clinic settings sections they may open, with one line each."""

from django.urls import reverse

from .access import sections_for

BLURBS = {
    "locations": "Where the clinic sees patients, and the rooms in each.",
    "hours": "Each provider's weekly hours, on a grid.",
    "types": "Lengths, colours and which types booking offers.",
    "templates": "SOAP scaffolding offered when a note is started, per visit type.",
    "units": "\u00b0F or \u00b0C, lb or kg, in or cm.",
}


def clinic_panel(*, user) -> list[dict]:
    """[] for users without any clinic setting; no query (the roles are already loaded)."""
    rows = [
        {"title": s.title, "url": reverse(s.url_name), "blurb": BLURBS[s.key], "key": s.key}
        for s in sections_for(user)
    ]
    if not rows:
        return []
    return [{"title": "Clinic settings", "template": "clinic/_panel_home.html", "rows": rows, "more": False}]
