"""Show the current TOTP code of a demo account (DEBUG only): the demo's stand-in for a phone app."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.demo import STAFF


class Command(BaseCommand):
    help = "Print the current authenticator code of a demo account (development only)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **opts):
        if not settings.DEBUG:
            raise CommandError("Only available in development (DJANGO_DEBUG=1).")
        if username not in {s[0] for s in STAFF}:
            raise CommandError("Not a demo account.")
        user = get_user_model().objects.get(username=username)
        device = TOTPDevice.objects.get(user=user, name="Demo authenticator")
        self.stdout.write(f"{TOTP(device.bin_key).token():06d}")
