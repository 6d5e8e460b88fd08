import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse

from .roles import admin_site_allowed, mfa_required

# Paths a signed-in user who has not yet passed the second factor may reach: the sign-in and second-factor
# pages, sign out, password reset, static files, health, and the APIs that carry their own credentials.
# Everything else under /accounts/ (security page, password change) needs the second factor like any page.
_OPEN_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/mfa/verify/",
    "/accounts/mfa/enroll/",
    "/accounts/password/reset/",
    "/static/",
    "/healthz",
    "/fhir/",
    "/pharmacy/inbound",
)
_ADMIN_PREFIX = "/admin/"
# How stale the idle-timeout stamp may get before a request rewrites it (SessionLifetimeMiddleware).
ACTIVITY_STAMP_SECONDS = 60


class SessionLifetimeMiddleware:
    """Idle timeout and an absolute lifetime for signed-in sessions (HIPAA 164.312(a)(2)(iii) automatic logoff)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.setdefault("auth_started", now)  # set at sign-in (signals.py)
            last = request.session.get("last_activity", now)
            idle = now - last > settings.SESSION_IDLE_TIMEOUT
            if idle or now - started > settings.SESSION_ABSOLUTE_LIFETIME:
                logout(request)
                messages.info(
                    request,
                    "You were signed out after a period of inactivity."
                    if idle
                    else "Your session reached its maximum length; please sign in again.",
                )
                login_url = reverse(settings.LOGIN_URL)
                if request.headers.get("HX-Request"):
                    resp = redirect(login_url)
                    resp["HX-Redirect"] = login_url
                    return resp
                return redirect(f"{login_url}?{urlencode({'next': request.get_full_path()})}")
            # Background polling (htmx "every" triggers) does not count as activity. The stamp is rewritten at most
            # once a minute: rewriting it on every request cost an UPDATE and a commit (a WAL flush) per page, and
            # the idle timeout needs it to the minute (a session may end up to a minute early, never late).
            stale = "last_activity" not in request.session or now - last >= ACTIVITY_STAMP_SECONDS
            if stale and not request.headers.get("X-Background-Poll"):
                request.session["last_activity"] = now
        return self.get_response(request)


class SessionKeyRotationMiddleware:
    """Keep accounts.UserSession in step when a view rotates a signed-in user's session key.

    Django rotates the key on a password change (update_session_auth_hash), on our page and in the admin alike;
    deactivating the user must still find and end the session under its new key (signals.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        before = request.session.session_key
        response = self.get_response(request)
        after = request.session.session_key
        if after and after != before and request.user.is_authenticated:
            from .services import user_session_remember

            user_session_remember(user=request.user, session_key=after, previous_key=before)
        return response


class MFARequiredMiddleware:
    """A user with a second factor must enter it; a user whose role requires one must enrol first.

    Whoever may open the Django admin needs a verified device there too, whatever their role's setting (the
    admin site refuses unverified users; sending them here instead of to its own login form gives them a way in).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not request.path.startswith(_OPEN_PREFIXES):
            from django_otp import user_has_device

            if user_has_device(user, confirmed=True):
                return redirect(
                    f"{reverse('accounts:mfa_verify')}?{urlencode({'next': request.get_full_path()})}"
                )
            if mfa_required(user) or (request.path.startswith(_ADMIN_PREFIX) and admin_site_allowed(user)):
                return redirect("accounts:mfa_enroll")
        return self.get_response(request)
