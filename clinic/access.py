"""Who may change which part of the clinic's settings: one table, section -> the permission and the words of the
403 page. The permissions are the practice admin's (accounts/roles.py); a superuser has them all."""

from dataclasses import dataclass

from accounts.roles import role_grants
from audit.services import access_record_denied
from core.exceptions import ActionDenied

CATEGORY = "clinic settings"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    perm: str
    action: str  # "You do not have permission to <action>."
    url_name: str


SECTIONS: dict[str, Section] = {
    s.key: s
    for s in [
        Section(
            "locations",
            "Locations and rooms",
            "scheduling.change_location",
            "change the clinic's locations and rooms",
            "clinic:locations",
        ),
        Section(
            "hours",
            "Working hours",
            "scheduling.change_workinghours",
            "change providers' working hours",
            "clinic:hours",
        ),
        Section(
            "types",
            "Appointment types",
            "scheduling.change_appointmenttype",
            "change the appointment types",
            "clinic:types",
        ),
        Section(
            "templates",
            "Note templates",
            "encounters.change_notetemplate",
            "change the note templates",
            "clinic:templates",
        ),
        Section(
            "units",
            "Units for vital signs",
            "encounters.change_clinicunits",
            "change the clinic's units",
            "clinic:units",
        ),
    ]
}
OVERVIEW_ACTION = "change the clinic's settings"


def sections_for(user) -> list[Section]:
    """The sections the user may open (from the roles already loaded: no query)."""
    return [s for s in SECTIONS.values() if role_grants(user, s.perm)]


def may_open(user) -> bool:
    return bool(sections_for(user))


def require(user, key: str | None, request=None) -> None:
    """The section's permission (None: any section's, for the overview), or the 403 page naming what was refused;
    the refusal is recorded like any denied access."""
    if key is None:
        allowed = any(user.has_perm(s.perm) for s in SECTIONS.values())
        action, needed = OVERVIEW_ACTION, "any clinic setting"
    else:
        section = SECTIONS[key]
        allowed = user.has_perm(section.perm)
        action, needed = section.action, section.perm
    if allowed:
        return
    access_record_denied(actor=user, category=CATEGORY, request=request, detail={"needed": needed})
    raise ActionDenied(action)
