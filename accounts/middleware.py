import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse

from .roles import mfa_required

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
            # Background polling (htmx "every" triggers) does not count as activity.
            if not request.headers.get("X-Background-Poll"):
                request.session["last_activity"] = now
        return self.get_response(request)


class MFARequiredMiddleware:
    """A user with a second factor must enter it; a user whose role requires one must enrol first.

    Staff opening the Django admin need a verified device too (the OTPAdminSite refuses unverified users;
    sending them here instead of to the admin's own login form gives them a way through).
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
            if mfa_required(user) or (user.is_staff and request.path.startswith(_ADMIN_PREFIX)):
                return redirect("accounts:mfa_enroll")
        return self.get_response(request)
