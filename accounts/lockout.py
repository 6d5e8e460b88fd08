"""Sign-in throttling: growing delays per username and per address, on django-axes' records (issue 18 #5).

django-axes records every failed sign-in (username, address, user agent; AccessAttempt). Its own rule was a hard
15-minute lock of a username after 5 failures: anyone could lock a named clinician out, and one address could try
a password on every account without ever being slowed. This handler replaces the rule with two growing delays:

- per username: from the AXES_FAILURE_LIMIT-th failure (5), each further try waits LOGIN_DELAY_SECONDS (15 s) after
  the last failure, doubling with each failure up to AXES_COOLOFF_TIME (15 min);
- per address: the same from the LOGIN_ADDRESS_FAILURE_LIMIT-th failure from one address (20), whatever the usernames
  (password spraying).

Tries refused during a wait are not recorded (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False): a user who
retries too early does not lengthen the wait. Failures are forgotten AXES_COOLOFF_TIME after the last one; a
practice admin can clear them sooner in the admin (Axes: access attempts). Unknown usernames are counted like known
ones, so the page never tells whether an account exists. The sign-in page says how long to wait
(accounts.views.lockout).
"""

from __future__ import annotations

import math
from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

ACCOUNT = "account"
ADDRESS = "address"


def _delay_left(attempts, threshold: int, now) -> float:
    """Seconds still to wait after these failures (0 below the threshold or once the delay has passed)."""
    agg = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    failures = agg["failures"] or 0
    if failures < threshold or agg["last"] is None:
        return 0.0
    cap = get_cool_off().total_seconds()
    delay = min(settings.LOGIN_DELAY_SECONDS * 2 ** min(failures - threshold, 30), cap)
    return max(0.0, (agg["last"] + timedelta(seconds=delay) - now).total_seconds())


def login_wait(request, credentials=None) -> tuple[float, str | None]:
    """(seconds to wait, ACCOUNT or ADDRESS) before this sign-in may be tried; (0, None) when it may be now."""
    now = timezone.now()
    recent = AccessAttempt.objects.filter(attempt_time__gte=now - get_cool_off())
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None) or get_client_ip_address(request)
    waits = []
    if username:
        waits.append(
            (_delay_left(recent.filter(username=username), settings.AXES_FAILURE_LIMIT, now), ACCOUNT)
        )
    if address:
        limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
        waits.append((_delay_left(recent.filter(ip_address=address), limit, now), ADDRESS))
    wait, reason = max(waits, default=(0.0, None))
    return (wait, reason) if wait > 0 else (0.0, None)


def wait_words(seconds: float) -> str:
    """A wait as the page says it, coarse enough that two pages a moment apart read the same."""
    if seconds <= 60:
        n = max(5, 5 * math.ceil(seconds / 5))
        return f"{n} seconds"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class LoginThrottleHandler(AxesDatabaseHandler):
    """AXES_HANDLER: axes' database records, our rule for when a sign-in must wait."""

    def is_locked(self, request, credentials=None) -> bool:
        return login_wait(request, credentials)[0] > 0

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        # Axes itself marks the request locked only for the username's count; the address's is ours.
        locked = request is None or getattr(request, "axes_locked_out", False)
        if not locked and self.is_locked(request, credentials):
            request.axes_locked_out = True
            request.axes_credentials = credentials
