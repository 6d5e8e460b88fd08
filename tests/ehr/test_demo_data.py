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
