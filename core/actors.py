"""Who acts: the one value the door (patients/access.py) and the audit trail (audit/services.py) take.

Four kinds. Each kind's rule of what it may reach is written once, in patients/access.py:
    staff    a workforce user: care-team grants, departments, break-the-glass, intersected with their roles
    patient  a patient acting for themselves (their own record, read-only permissions)
    proxy    a parent, guardian or caregiver acting for another patient, within the grant's scope and until it
             expires or is revoked (patients.models.ProxyGrant)
    system   an OAuth client acting as itself (client credentials): its service account's grants, narrowed to its
             scopes and to the patient or group it is bound to (patients.models.ClientBinding)
Built by one function from a request or a token (patients/actors.py). core imports no clinical app, so this is
plain data: ids, not model instances, except the user account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

STAFF = "staff"
PATIENT = "patient"
PROXY = "proxy"
SYSTEM = "system"
KINDS = (STAFF, PATIENT, PROXY, SYSTEM)


@dataclass(frozen=True)
class Actor:
    kind: str
    user: object  # the account signed in (staff, patient, proxy) or the client's service account (system)
    own_patient_id: uuid.UUID | None = None  # patient / proxy: the record of the account holder, if any
    represented_patient_id: uuid.UUID | None = None  # patient: own record; proxy: the patient acted for
    client_id: str = ""  # system: the OAuth client
    scope_perms: frozenset[str] | None = (
        None  # system: the patient permissions its scopes allow (None: no limit)
    )
    bound_patient_id: uuid.UUID | None = None  # system: the one patient it is bound to
    bound_group_id: int | None = None  # system: the care-team group whose patients it is bound to

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown actor kind {self.kind!r}")

    # What the user-shaped code around the door asks of an actor (audit, role checks).
    @property
    def pk(self):
        return getattr(self.user, "pk", None)

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def is_active(self) -> bool:
        return bool(getattr(self.user, "is_active", False))

    @property
    def on_behalf_of(self) -> uuid.UUID | None:
        """For whom the actor acts, as the audit records it: the represented patient (patient and proxy kinds)."""
        return self.represented_patient_id if self.kind in (PATIENT, PROXY) else None

    def get_username(self) -> str:
        return self.user.get_username() if self.user is not None else self.client_id


def staff(user) -> Actor:
    return Actor(kind=STAFF, user=user)


def as_actor(value) -> Actor:
    """An Actor as is; a user account as staff (every caller before actor kinds passed a user)."""
    return value if isinstance(value, Actor) else staff(value)
