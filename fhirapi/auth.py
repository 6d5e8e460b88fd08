"""Bearer-token authorization for the FHIR API: OAuth 2.0 access tokens (django-oauth-toolkit) and SMART scopes.

Scopes (SMART App Launch v1 `.read`/`.write` and v2 `.rs`/`.cu` syntax):
    patient/<Type|*>.read   the token's user, limited to the one patient of the token's launch context
    user/<Type|*>.read      the token's user, with exactly the object permissions they have in the UI
    system/<Type|*>.read    a backend service (client credentials): the application's user (a service account)
The scope never widens what a user may see: every read still goes through the one door (patients.selectors).
Session cookies are never accepted here; a browser signed in to the UI gets 401 like anyone without a token.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from patients.actors import actor_from_token

CONTEXT_PATIENT = "patient"
CONTEXT_USER = "user"
CONTEXT_SYSTEM = "system"

# The scope names the API understands; the authorization server may grant only these (docs/fhir.md).
# SMART v1 (`.read`, `.write`, `.*`) and v2 (`.rs`, `.cruds`: letters in that order) permissions. A v1
# `.read`/`.*` or a v2 scope holding `r` or `s` allows reading; v1 `.write`/`.*` allows create and update, v2 `c`
# create and `u` update (fhirapi/write_views.py); `d` is accepted and echoed, and allows nothing (no deletes).
SCOPE_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|(?=[cruds])c?r?u?d?s?)$")
WRITE_LETTERS = {"create": "c", "update": "u"}
# The types the API creates and updates (fhirapi/writing.py); the others are read only.
WRITABLE_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "DocumentReference",
    "Appointment",
)


def scope_reads(verb: str) -> bool:
    return verb in ("read", "*") or (verb != "write" and ("r" in verb or "s" in verb))


def scope_writes(verb: str, interaction: str) -> bool:
    """Whether a scope's permission part allows `interaction` ("create" or "update")."""
    if verb in ("write", "*"):
        return True
    return verb != "read" and WRITE_LETTERS[interaction] in verb


SCOPES = {
    "patient/*.read": "Read the data of the patient in the launch context",
    "user/*.read": "Read the data the signed-in user may see",
    "system/*.read": "Read as the application's service account (backend services)",
}


class AuthError(Exception):
    """Raised by token_authenticate / grant_for; views turn it into an OperationOutcome."""

    def __init__(self, status: int, code: str, diagnostics: str, www_authenticate: str | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.www_authenticate = www_authenticate


@dataclass(frozen=True)
class TokenContext:
    actor: object  # whom the one door checks (core.actors.Actor): the token's user, or the client acting as itself
    scopes: frozenset[str]
    launch_patient_id: uuid.UUID | None
    token_id: int


@dataclass(frozen=True)
class Grant:
    """What a token may do for one resource type: as whom, and whether it is held to one patient."""

    actor: object
    context: str
    patient_id: uuid.UUID | None  # set only for patient/ scopes


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_authenticate(request) -> TokenContext:
    """The caller behind the request's bearer token, or AuthError(401). Never looks at the session."""
    raw = _bearer(request)
    if raw is None:
        raise AuthError(
            401,
            "login",
            "A bearer access token is required (Authorization: Bearer <token>).",
            'Bearer realm="fhir"',
        )
    invalid = AuthError(
        401,
        "login",
        "The access token is invalid or has expired.",
        'Bearer realm="fhir", error="invalid_token"',
    )
    # Tokens are stored as SHA-256 checksums (RFC 9700 token storage), the way the toolkit looks them up.
    checksum = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    token = (
        get_access_token_model()
        .objects.select_related("application__user", "user__patient_account", "fhir_launch")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None or token.expires is None or token.expires <= timezone.now():
        raise invalid
    if token.application is not None and not token.application.is_usable(request):
        raise invalid
    account = token.user or (token.application.user if token.application else None)
    if account is None or not account.is_active:
        raise invalid
    launch = getattr(token, "fhir_launch", None)
    return TokenContext(
        actor=actor_from_token(token),
        scopes=frozenset(token.scope.split()),
        launch_patient_id=launch.patient_id if launch else None,
        token_id=token.pk,
    )


def grant_for(ctx: TokenContext, resource_type: str) -> Grant:
    """The broadest grant among the token's scopes that allows reading `resource_type`, or AuthError(403)."""
    contexts = set()
    for scope in ctx.scopes:
        m = SCOPE_RE.match(scope)
        if m and m.group(2) in ("*", resource_type) and scope_reads(m.group(3)):
            contexts.add(m.group(1))
    # system/ and user/ both act as a user with that user's own permissions; patient/ narrows to one patient.
    for context in (CONTEXT_SYSTEM, CONTEXT_USER):
        if context in contexts:
            return Grant(actor=ctx.actor, context=context, patient_id=None)
    if CONTEXT_PATIENT in contexts:
        if ctx.launch_patient_id is None:
            raise AuthError(
                403, "forbidden", "A patient/ scope needs a patient launch context; this token has none."
            )
        return Grant(actor=ctx.actor, context=CONTEXT_PATIENT, patient_id=ctx.launch_patient_id)
    raise AuthError(
        403,
        "forbidden",
        f"The token's scopes do not allow reading {resource_type} "
        f"(needs patient/, user/ or system/ {resource_type}.read, .rs or *.read).",
    )


def grant_for_write(ctx: TokenContext, resource_type: str, interaction: str) -> Grant:
    """The grant among the token's scopes that allows `interaction` (create, update) on `resource_type`, or
    AuthError(403). The door still decides what the actor may change (patients/access.py)."""
    contexts = set()
    for scope in ctx.scopes:
        m = SCOPE_RE.match(scope)
        if m and m.group(2) in ("*", resource_type) and scope_writes(m.group(3), interaction):
            contexts.add(m.group(1))
    for context in (CONTEXT_SYSTEM, CONTEXT_USER):
        if context in contexts:
            return Grant(actor=ctx.actor, context=context, patient_id=None)
    if CONTEXT_PATIENT in contexts:
        if ctx.launch_patient_id is None:
            raise AuthError(
                403, "forbidden", "A patient/ scope needs a patient launch context; this token has none."
            )
        return Grant(actor=ctx.actor, context=CONTEXT_PATIENT, patient_id=ctx.launch_patient_id)
    letter = WRITE_LETTERS[interaction]
    raise AuthError(
        403,
        "forbidden",
        f"The token's scopes do not allow {interaction} of {resource_type} "
        f"(needs patient/, user/ or system/ {resource_type}.write, .{letter} or *.write).",
    )
