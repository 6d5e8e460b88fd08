"""demo_data makes accounts with a published password: it refuses to run on a production server (DEBUG off)."""

import pytest
from django.core.management import CommandError, call_command

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def already_loaded(db):
    # --if-empty then returns right after the guard, so these tests do not load 200 patients.
    return UserFactory(username="dr.house")


def test_refuses_when_debug_is_off(settings, already_loaded):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="Refusing to load demo data: DEBUG is off"):
        call_command("demo_data", "--if-empty")


def test_runs_in_development(settings, already_loaded):
    settings.DEBUG = True  # what `python3 dev.py run` sets (DJANGO_DEBUG=1)

    call_command("demo_data", "--if-empty")


def test_runs_in_production_only_when_asked_by_name(settings, already_loaded):
    settings.DEBUG = False

    call_command("demo_data", "--if-empty", "--allow-production")


def test_demo_totp_keys_are_generated_at_load_time_and_demo_totp_prints_the_current_code(settings, capsys):
    """No demo second factor can be computed from the source: each key is random, made when the demo loads."""
    import hashlib
    import io

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.DEBUG = True
    call_command("demo_data", "--patients", "8")

    devices = list(TOTPDevice.objects.filter(name="Demo authenticator").select_related("user"))
    assert len(devices) == 7
    keys = {d.key for d in devices}
    assert len(keys) == 7  # one secret per account
    for d in devices:
        # The constant the source once derived every demo key from.
        assert d.key != hashlib.sha256(f"open-ehr-demo:{d.user.username}".encode()).hexdigest()[:40]
        assert len(d.bin_key) == 20
    house = next(d for d in devices if d.user.username == "dr.house")
    out = io.StringIO()
    before = f"{TOTP(house.bin_key).token():06d}"
    call_command("demo_totp", "dr.house", stdout=out)
    after = f"{TOTP(house.bin_key).token():06d}"  # the 30-second step may turn in between
    assert out.getvalue().strip() in {before, after}
