"""The plain words of a refused action: "You do not have permission to <action>" (core.exceptions.ActionDenied).

A fixed vocabulary keyed by the permission the door asked for and the data category of the page; nothing else
(no exception text, no codename) reaches the 403 page.
"""

from __future__ import annotations

from accounts import roles
from audit import categories

# (permission, category) -> words; (permission, None) is the permission's default.
ACTION_WORDS: dict[tuple[str, str | None], str] = {
    (roles.PRESCRIBE, None): "prescribe",
    (roles.PRESCRIBE, categories.LAB_ORDER): "order tests",
    (roles.CHANGE_CLINICAL, categories.VITALS): "record vital signs",
    (roles.CHANGE_CLINICAL, categories.CLINICAL_NOTE): "write clinical notes",
    (roles.CHANGE_CLINICAL, categories.PROBLEMS): "change the problem list",
    (roles.CHANGE_CLINICAL, categories.ALLERGIES): "change the allergy list",
    (roles.CHANGE_CLINICAL, categories.MEDICATIONS): "change the medication list",
    (roles.CHANGE_CLINICAL, categories.IMMUNIZATIONS): "record immunizations",
    (roles.CHANGE_CLINICAL, categories.RESULTS): "record results",
    (roles.CHANGE_CLINICAL, categories.ENCOUNTER): "start or document a visit",
    (roles.CHANGE_CLINICAL, categories.INBOX): "act on this patient's inbox items",
    (roles.CHANGE_CLINICAL, None): "document in this patient's chart",
    (roles.VIEW_CLINICAL, categories.CLINICAL_NOTE): "read clinical notes",
    (roles.VIEW_CLINICAL, categories.ENCOUNTER): "open visits and their clinical notes",
    (roles.VIEW_CLINICAL, categories.ENCOUNTERS): "see this patient's visits",
    (roles.VIEW_CLINICAL, categories.VITALS): "see vital signs",
    (roles.VIEW_CLINICAL, categories.EXPORT): "export this patient's record",
    (roles.VIEW_CLINICAL, categories.INBOX): "see this patient's results and inbox items",
    (roles.VIEW_CLINICAL, None): "open this patient's clinical record",
    (roles.VIEW_SCHEDULE, None): "see this patient's appointments",
    (roles.MANAGE_SCHEDULE, None): "book or change this patient's appointments",
    (roles.CHANGE_DEMOGRAPHICS, None): "change this patient's details",
    (roles.VIEW_DEMOGRAPHICS, None): "see this patient's details",
}
FALLBACK = "do that"


def action_words(perm: str, category: str | None) -> str:
    """The refused action in plain words (FALLBACK for a permission the table does not know)."""
    return ACTION_WORDS.get((perm, category)) or ACTION_WORDS.get((perm, None)) or FALLBACK
