import base64
import math

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.redirects import redirect_back, safe_next

from .forms import LoginForm, TokenForm
from .lockout import ACCOUNT, ADDRESS, login_wait, wait_words
from .roles import mfa_required
from .services import recovery_codes_issue

LOCKOUT_MESSAGE = "Too many failed sign-in attempts"
_LOCKOUT_WHY = {
    ACCOUNT: "for this account",
    ADDRESS: "from your network address",
}


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def lockout(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: how long to wait, the same page whether or not the username exists (no enumeration).

    The wait grows with each failure (accounts/lockout.py); unknown usernames are counted like known ones.
    """
    wait, reason = login_wait(request, credentials)
    message = (
        f"{LOCKOUT_MESSAGE} {_LOCKOUT_WHY.get(reason, _LOCKOUT_WHY[ACCOUNT])}. Wait {wait_words(wait)}, then try "
        "again; each further failure makes the wait longer. Your practice admin can clear it sooner."
    )
    form = LoginForm(request)
    return render(request, "accounts/login.html", {"form": form, "lockout": message}, status=429)


def _throttled_message(device) -> str | None:
    """django-otp backs off after wrong codes (1, 2, 4 ... seconds); say so instead of a bare "not valid"."""
    allowed, info = device.verify_is_allowed()
    if allowed or not info or "locked_until" not in info:
        return None
    wait = max(1, math.ceil((info["locked_until"] - timezone.now()).total_seconds()))
    return (
        f"Too many wrong codes in a row. Wait {wait} second{'s' if wait != 1 else ''}, "
        "then enter the newest code from your app."
    )


def _code_check(user, token: str):
    """One second-factor attempt, serialised per user: (the device that matched or None, a throttle message or None).

    The user's device rows are locked (SELECT ... FOR UPDATE) for the check and the failure counter's update, so
    parallel guesses queue: each sees the counter the previous one left, and none is checked while throttled
    (issue 18 #7: 40 parallel wrong codes got 7 real checks and left the counter at 2).
    """
    with transaction.atomic():
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        list(StaticDevice.objects.select_for_update().filter(user=user).order_by("pk"))  # recovery codes
        # While the app's codes are throttled, refuse without trying: a guess must not reach match_token.
        throttled = _throttled_message(totp) if totp else None
        return (None if throttled else match_token(user, token)), throttled


def _enrol_check(device_pk: int, token: str) -> tuple[bool, str | None]:
    """The enrolment code, checked like _code_check under a lock on the (unconfirmed) device row."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device_pk)
        throttled = _throttled_message(device)
        return (False if throttled else device.verify_token(token)), throttled


@login_required
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    if request.user.is_verified():
        return redirect_back(request)
    if not user_has_device(request.user, confirmed=True):
        return redirect("accounts:mfa_enroll")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, throttled = _code_check(request.user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = device.token_set.count()
                messages.warning(request, f"You signed in with a recovery code; {left} remain.")
            return redirect_back(request)
        form.add_error(
            "token",
            throttled or "That code is not valid. Codes change every 30 seconds; try the current one.",
        )
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": safe_next(request)})


def _qr_svg(uri: str) -> str:
    img = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return img.to_string(encoding="unicode")


@login_required
@require_http_methods(["GET", "POST"])
def mfa_enroll(request: HttpRequest) -> HttpResponse:
    """TOTP enrolment: scan the QR code, prove it with one code, receive recovery codes once."""
    user = request.user
    if user_has_device(user, confirmed=True) and not user.is_verified():
        return redirect("accounts:mfa_verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        matched, throttled = _enrol_check(device.pk, form.cleaned_data["token"])
        if throttled:
            form.add_error("token", throttled)
        elif matched:
            device.refresh_from_db()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            otp_login(request, device)
            codes = recovery_codes_issue(user=user)
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
        else:
            form.add_error(
                "token", "That code did not match. Check the time on your phone and try the newest code."
            )
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    uri = device.config_url  # carries OTP_TOTP_ISSUER
    return render(
        request,
        "accounts/mfa_enroll.html",
        # The SVG is generated here from our own data, not from user input.
        {"form": form, "qr_svg": mark_safe(_qr_svg(uri)), "secret": secret, "required": mfa_required(user)},  # noqa: S308
    )


@login_required
@require_http_methods(["POST"])
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    if not request.user.is_verified():
        return redirect("accounts:mfa_verify")
    return render(request, "accounts/recovery_codes.html", {"codes": recovery_codes_issue(user=request.user)})


@login_required
def security(request: HttpRequest) -> HttpResponse:
    has_totp = TOTPDevice.objects.filter(user=request.user, confirmed=True).exists()
    left = StaticToken.objects.filter(device__user=request.user).count()
    return render(request, "accounts/security.html", {"has_totp": has_totp, "recovery_left": left})
