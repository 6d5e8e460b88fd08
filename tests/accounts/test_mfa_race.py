"""Issue 18 #7: parallel wrong second-factor codes cannot race the throttle.

Forty threads, each with its own database connection, post a wrong code at the same moment for one signed-in
session. The check and the failure counter's update are one locked step, so: every code that was really checked
left its mark on the counter, and no more codes were checked than the back-off allows in the time the burst took
(django-otp: after n failures, 2^(n-1) seconds).
"""

import math
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

VERIFY = "/accounts/mfa/verify/"
ATTEMPTS = 40
CHECKED = "That code is not valid"
REFUSED = "Too many wrong codes in a row"


def a_wrong_code(device) -> str:
    """A code outside the device's whole tolerance window, now and in the next minutes."""
    now = time.time()
    valid = set()
    for offset in range(-3 * 30, 10 * 60, 30):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = now + offset
        valid.add(f"{totp.token():06d}")
    return next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in valid)


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_codes_are_each_counted_and_throttled():
    user = UserFactory(username="dr.race")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    wrong = a_wrong_code(device)
    signed_in = Client()
    signed_in.force_login(user)
    cookie = signed_in.cookies["sessionid"].value

    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def attempt():
        client = Client()
        client.cookies["sessionid"] = cookie
        try:
            barrier.wait(30)
            response = client.post(VERIFY, {"token": wrong})
            body = response.content.decode()
            outcomes.append(
                "checked"
                if CHECKED in body
                else "refused"
                if REFUSED in body
                else f"other {response.status_code}"
            )
        except BaseException as exc:  # noqa: BLE001  (reported below, not swallowed)
            errors.append(exc)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - started

    assert not errors, errors
    assert len(outcomes) == ATTEMPTS
    assert set(outcomes) <= {"checked", "refused"}, outcomes
    checked = outcomes.count("checked")
    device.refresh_from_db()
    # Every real check counted: the counter is the number of codes that were tried against the key.
    assert device.throttling_failure_count == checked
    # The back-off held: after k checks the next one waits 1 + 2 + ... + 2^(k-1) = 2^k - 1 seconds.
    assert 1 <= checked <= math.floor(math.log2(elapsed + 1)) + 1, (checked, elapsed)
