"""What the server tells SMART clients about itself: `.well-known/smart-configuration` and the security part of the
CapabilityStatement. Both list exactly what fhirapi/oauth.py and fhirapi/smart.py implement."""

from __future__ import annotations

from django.urls import reverse
from oauth2_provider.settings import oauth2_settings

from .smart import listed_scopes

CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-offline",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "authorize-post",
]
OIDC_CAPABILITIES = ["sso-openid-connect"]


def _url(request, name: str) -> str:
    return request.build_absolute_uri(reverse(name))


def smart_configuration_body(request) -> dict:
    oidc = bool(oauth2_settings.OIDC_ENABLED)
    body = {
        # The same issuer as the `iss` of authorization responses (RFC 9207) and of ID tokens.
        "issuer": oauth2_settings.oauth2_authorization_server_issuer(request),
        "authorization_endpoint": _url(request, "smart_authorize"),
        "token_endpoint": _url(request, "oauth2_provider:token"),
        "revocation_endpoint": _url(request, "oauth2_provider:revoke-token"),
        "introspection_endpoint": _url(request, "oauth2_provider:introspect"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
        "scopes_supported": sorted(listed_scopes()),
        "capabilities": CAPABILITIES + (OIDC_CAPABILITIES if oidc else []),
    }
    if oidc:
        body["jwks_uri"] = _url(request, "oauth2_provider:jwks-info")
        body["userinfo_endpoint"] = _url(request, "oauth2_provider:user-info")
    return body


def capability_security(request) -> dict:
    """CapabilityStatement.rest.security: SMART-on-FHIR with the OAuth URIs, CORS for registered app origins."""
    uris = [
        ("authorize", "smart_authorize"),
        ("token", "oauth2_provider:token"),
        ("revoke", "oauth2_provider:revoke-token"),
        ("introspect", "oauth2_provider:introspect"),
    ]
    return {
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": key, "valueUri": _url(request, name)} for key, name in uris],
            }
        ],
        "description": "OAuth 2.0 bearer tokens with SMART App Launch 2 scopes (v1 .read and v2 .rs/.cruds; the API "
        "reads only) in patient/, user/ and system/ context; EHR and standalone launch, OpenID Connect ID tokens, "
        "backend services with private_key_jwt. CORS only for origins registered on an application. "
        "Discovery: .well-known/smart-configuration.",
    }
