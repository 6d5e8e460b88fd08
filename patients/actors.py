"""Who acts, built in one place from a request or an OAuth token (core/actors.py describes the kinds).

- A portal account (PatientAccount) acts as a patient: for themselves (the account's own record), or as a proxy
  for the patient they chose to act for (the session's ACTING_FOR, or a SMART launch's patient). Whether a proxy
  grant allows it is not decided here but by the door, at every access (patients/access.py), so an expiry or a
  revocation stops a session at once.
- Any other account acts as staff, as every user did before actor kinds (its roles decide, in the door).
- A token with no user (client credentials) is a system client: its service account, its read scopes and its
  ClientBinding.
Deciding costs no query when the account's patient_account was loaded with it (select_related, as the FHIR
token lookup does).
"""

from __future__ import annotations

import uuid

from accounts import roles
from core import actors
from core.actors import Actor

from .models import ClientBinding, PatientAccount, ProxyGrant

ACTING_FOR = "acting_for_patient"  # session key: the patient a proxy chose to act for
# What a read scope (system/<Type|*>.read) allows at most, whatever the service account may.
READ_PERMISSIONS = frozenset({roles.VIEW_DEMOGRAPHICS, roles.VIEW_SCHEDULE, roles.VIEW_CLINICAL})
# What a write scope (system/<Type|*>.write, v2 .c/.u) adds: changing demographics, the schedule and the chart
# (never prescribing: the API writes medication requests as drafts, which still need a prescriber to sign).
WRITE_PERMISSIONS = frozenset({roles.CHANGE_DEMOGRAPHICS, roles.MANAGE_SCHEDULE, roles.CHANGE_CLINICAL})


def _uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) or value is None else uuid.UUID(str(value))
    except ValueError:
        return None


def actor_for_user(user, *, acting_for=None) -> Actor:
    """The actor a signed-in account is: staff, or a patient acting for themselves or (acting_for) another."""
    if not getattr(user, "is_authenticated", False):
        return actors.staff(user)
    try:
        account = user.patient_account
    except PatientAccount.DoesNotExist:
        return actors.staff(user)
    own = account.patient_id
    represented = _uuid(acting_for) or own
    kind = actors.PATIENT if represented == own else actors.PROXY
    return Actor(kind=kind, user=user, own_patient_id=own, represented_patient_id=represented)


def actor_from_request(request) -> Actor:
    session = getattr(request, "session", None)
    return actor_for_user(request.user, acting_for=session.get(ACTING_FOR) if session is not None else None)


def actor_from_token(token) -> Actor:
    """The actor behind an OAuth access token (django-oauth-toolkit's AccessToken): the token's user, acting for
    the launch patient if there is one; or, for client credentials, the client acting as itself."""
    if token.user is not None:
        launch = getattr(token, "fhir_launch", None)
        return actor_for_user(token.user, acting_for=launch.patient_id if launch else None)
    scopes = token.scope.split()
    return actor_for_client(
        token.application,
        reads=any(_system_read(s) for s in scopes),
        writes=any(_system_write(s) for s in scopes),
    )


def _system_read(scope: str) -> bool:
    """A system/ scope that reads: v1 `.read`, or v2 letters including r (read) or s (search): `.rs`, `.cruds`."""
    if not scope.startswith("system/") or "." not in scope:
        return False
    action = scope.rsplit(".", 1)[1]
    return action in ("read", "*") or (action != "write" and bool(set(action) & {"r", "s"}))


def _system_write(scope: str) -> bool:
    """A system/ scope that writes: v1 `.write` or `.*`, or v2 letters including c (create) or u (update)."""
    if not scope.startswith("system/") or "." not in scope:
        return False
    action = scope.rsplit(".", 1)[1]
    return action in ("write", "*") or (action != "read" and bool(set(action) & {"c", "u"}))


def actor_for_client(app, *, reads: bool, writes: bool = False) -> Actor:
    """An OAuth client acting as itself (client credentials): its service account, read permissions when its
    scopes read, bound to a patient or a group where a ClientBinding says so (also for work it started that runs
    later, such as a bulk export on the worker)."""
    binding = ClientBinding.objects.filter(client_id=app.client_id).first()
    return Actor(
        kind=actors.SYSTEM,
        user=app.user,
        client_id=app.client_id,
        scope_perms=(READ_PERMISSIONS if reads else frozenset())
        | (WRITE_PERMISSIONS if writes else frozenset()),
        bound_patient_id=binding.patient_id if binding else None,
        bound_group_id=binding.group_id if binding else None,
    )


def represented_choices(user) -> list:
    """The patients an account may act for now: its own record and every patient an active proxy grant names
    (what a portal's "acting for" menu offers; the door still checks each access)."""
    from django.db.models import Q
    from django.utils import timezone

    now = timezone.now()
    own = [p for p in PatientAccount.objects.filter(user=user).values_list("patient_id", flat=True) if p]
    proxied = ProxyGrant.objects.filter(
        Q(revoked_at__isnull=True), user=user, starts_at__lte=now, expires_at__gt=now
    ).values_list("patient_id", flat=True)
    return own + [p for p in proxied if p not in own]
