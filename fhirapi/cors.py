"""CORS for registered browser apps: the FHIR API and the OAuth endpoints a browser app calls answer a preflight and
carry `Access-Control-Allow-Origin` only for an origin listed on an application (the toolkit's `allowed_origins`,
set by administrators). Any other origin gets no CORS headers, so the browser keeps the response from the page."""

from __future__ import annotations

from django.http import HttpResponse

CORS_PREFIXES = (
    "/fhir/",
    "/o/token/",
    "/o/userinfo/",
    "/o/revoke_token/",
    "/o/introspect/",
    "/o/.well-known/",
)
ALLOW_HEADERS = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match"
ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
MAX_AGE = "600"


def origin_registered(origin: str) -> bool:
    from oauth2_provider.models import get_application_model

    if not origin or origin == "null":
        return False
    candidates = (
        get_application_model().objects.filter(allowed_origins__contains=origin).only("allowed_origins")
    )
    return any(app.origin_allowed(origin) for app in candidates[:20])


class RegisteredOriginCorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        origin = request.headers.get("Origin", "")
        if not origin or not request.path.startswith(CORS_PREFIXES):
            return self.get_response(request)
        allowed = origin_registered(origin)
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        response = HttpResponse(status=204) if preflight else self.get_response(request)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Location, ETag, Content-Location, WWW-Authenticate"
            if preflight:
                response["Access-Control-Allow-Methods"] = ALLOW_METHODS
                response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
                response["Access-Control-Max-Age"] = MAX_AGE
        response["Vary"] = ", ".join(filter(None, [response.get("Vary", ""), "Origin"]))
        return response
