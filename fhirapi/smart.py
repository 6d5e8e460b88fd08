"""SMART App Launch 2 pieces on top of django-oauth-toolkit (fhirapi/oauth.py wires them in):

- scopes: v1 and v2 shapes (fhirapi.auth.SCOPE_RE) checked by pattern, described on the consent page;
- `aud`: an authorization request must name this server's FHIR base URL;
- EHR launch: an opaque, short-lived `launch` value bound to the user, the app and the patient;
- backend services: `private_key_jwt` client assertions checked against the client's registered JWKS
  (iss = sub = client_id, aud = the token URL, exp at most five minutes ahead, jti used once).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from .auth import SCOPE_RE, WRITABLE_TYPES, scope_reads, scope_writes

LAUNCH = "launch"
LAUNCH_PATIENT = "launch/patient"
EXTRA_SCOPES = {
    "openid": "Know who you are (OpenID Connect)",
    "fhirUser": "Know your user record",
    LAUNCH: "Work on the patient open in the chart (EHR launch)",
    LAUNCH_PATIENT: "Choose the patient this app works on",
    "offline_access": "Keep access after you sign out (refresh token)",
}
CONTEXT_WORDS = {"patient": "of the chosen patient", "user": "you may see", "system": "of the whole system"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LAUNCH_MINUTES = 5
ASSERTION_MAX_SECONDS = 300


def fhir_base(request) -> str:
    """The FHIR base URL of this server as the client sees it (what `aud` and `iss` name)."""
    return request.build_absolute_uri(reverse("fhirapi:metadata")).rsplit("/metadata", 1)[0]


def describe_scope(scope: str) -> str | None:
    """Words for the consent page, or None when the API does not understand the scope."""
    from .resources import REGISTRY

    if scope in EXTRA_SCOPES:
        return EXTRA_SCOPES[scope]
    m = SCOPE_RE.match(scope)
    if not m or (m.group(2) != "*" and m.group(2) not in REGISTRY):
        return None
    what = "all data" if m.group(2) == "*" else f"{m.group(2)} data"
    verbs = [
        word
        for word, allowed in (
            ("read", scope_reads(m.group(3))),
            ("create", scope_writes(m.group(3), "create")),
            ("update", scope_writes(m.group(3), "update")),
        )
        if allowed
    ]
    if not verbs:
        return f"(Nothing: this server does not delete) {what} {CONTEXT_WORDS[m.group(1)]}"
    verb = ", ".join(verbs[:-1]) + (" and " if len(verbs) > 1 else "") + verbs[-1]
    return f"{verb.capitalize()} {what} {CONTEXT_WORDS[m.group(1)]}"


class ScopeDescriptions(dict):
    """The toolkit's `get_all_scopes()`: the listed scopes, plus any other valid v1/v2 shape on demand."""

    def __missing__(self, scope):
        words = describe_scope(scope)
        if words is None:
            raise KeyError(scope)
        return words


def listed_scopes() -> ScopeDescriptions:
    """The scopes advertised in discovery: extra scopes and v1 `.read` / v2 `.rs` for each context and type."""
    from .resources import REGISTRY

    scopes = ScopeDescriptions(EXTRA_SCOPES)
    for context in CONTEXT_WORDS:
        for rtype in ("*", *REGISTRY):
            writable = rtype == "*" or rtype in WRITABLE_TYPES
            for verb in ("read", "rs", "write", "cu") if writable else ("read", "rs"):
                name = f"{context}/{rtype}.{verb}"
                scopes[name] = describe_scope(name)
    return scopes


def scope_allowed(scope: str, client_credentials: bool) -> bool:
    if describe_scope(scope) is None:
        return False
    if scope.startswith("system/"):
        return client_credentials
    return not client_credentials or scope not in (LAUNCH, LAUNCH_PATIENT)


# ---------------------------------------------------------------------------------------------------- aud
def aud_problem(aud: str | None, request) -> str | None:
    """Why the authorization request's `aud` is refused, or None. SMART: aud is required and names the FHIR server."""
    aud = (aud or "").rstrip("/")
    if not aud:
        return "The authorization request needs aud, the FHIR base URL of this server."
    if aud != fhir_base(request):
        return f"aud must be this server's FHIR base URL ({fhir_base(request)}); this request names another server."
    return None


# ---------------------------------------------------------------------------------------------------- EHR launch
def launch_create(*, application, user, patient) -> str:
    from .models import EhrLaunch

    token = secrets.token_urlsafe(32)
    EhrLaunch.objects.create(
        token=token,
        application=application,
        user=user,
        patient=patient,
        expires_at=timezone.now() + timedelta(minutes=LAUNCH_MINUTES),
    )
    return token


def launch_resolve(token: str, *, client_id: str, user, consume: bool):
    """The patient of a `launch` value issued to this user for this app, still fresh; None otherwise."""
    from .models import EhrLaunch

    qs = EhrLaunch.objects.select_for_update() if consume else EhrLaunch.objects
    launch = (
        qs.filter(
            token=token,
            application__client_id=client_id,
            user=user,
            expires_at__gt=timezone.now(),
            used_at__isnull=True,
        )
        .select_related("patient")
        .first()
    )
    if launch is None:
        return None
    if consume:
        launch.used_at = timezone.now()
        launch.save(update_fields=["used_at"])
    return launch.patient


# ---------------------------------------------------------------------------------------------------- private_key_jwt
def _assertion_claims(assertion: str, client_id_hint: str | None):
    """(application, claims) for a correctly signed assertion, or (None, None)."""
    import base64

    from jwcrypto import jwk, jwt
    from oauth2_provider.models import get_application_model

    try:
        body = assertion.split(".")[1]
        unverified = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return None, None
    client_id = unverified.get("iss") if isinstance(unverified, dict) else None
    if not client_id or (client_id_hint and client_id_hint != client_id):
        return None, None
    app = get_application_model().objects.select_related("smart", "user").filter(client_id=client_id).first()
    keys = getattr(getattr(app, "smart", None), "jwks", None) if app else None
    if not keys or not keys.get("keys"):
        return None, None
    try:
        keyset = jwk.JWKSet.from_json(json.dumps(keys))
        verified = jwt.JWT(
            jwt=assertion, key=keyset, algs=["RS384", "ES384", "RS256", "ES256"], check_claims={}
        )
        claims = json.loads(verified.claims)
    except Exception:  # noqa: BLE001 - a bad signature, unknown key or unsupported alg is refused
        return None, None
    return app, claims


def token_url_of(request) -> str:
    """The absolute URL of the token endpoint as the client called it (oauthlib's request carries the WSGI headers)."""
    from django.http import HttpRequest

    django_request = HttpRequest()
    django_request.META = dict(request.headers)
    if request.headers.get("X_DJANGO_OAUTH_TOOLKIT_SECURE"):
        django_request._get_scheme = lambda: "https"
    return django_request.build_absolute_uri(reverse("oauth2_provider:token"))


def client_assertion_application(request, token_url: str):
    """The application a `private_key_jwt` assertion authenticates, or None (bad, expired, replayed, wrong aud)."""
    from .models import ClientAssertionUse

    if getattr(request, "client_assertion_type", None) != ASSERTION_TYPE:
        return None
    app, claims = _assertion_claims(request.client_assertion or "", getattr(request, "client_id", None))
    if app is None:
        return None
    now = timezone.now().timestamp()
    exp, jti = claims.get("exp"), claims.get("jti")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if (
        claims.get("sub") != app.client_id
        or token_url not in auds
        or not isinstance(exp, (int, float))
        or not (now < exp <= now + ASSERTION_MAX_SECONDS)
        or not isinstance(jti, str)
        or not jti
    ):
        return None
    try:
        with transaction.atomic():
            ClientAssertionUse.objects.create(
                jti=jti[:255],
                client_id=app.client_id,
                expires_at=timezone.now() + timedelta(seconds=exp - now),
            )
    except IntegrityError:
        return None  # replayed
    ClientAssertionUse.objects.filter(expires_at__lt=timezone.now() - timedelta(minutes=10)).delete()
    return app
