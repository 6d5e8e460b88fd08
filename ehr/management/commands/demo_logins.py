"""Print the demo clinic's sign-ins for `python3 dev.py run`: who each account is and whether it needs a code.

Whether an account needs a second factor is asked of the rule the sign-in itself applies (accounts.roles.
mfa_required), so the banner cannot disagree with what the login page will ask for.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.demo import DEMO_PASSWORD, STAFF
from accounts.roles import mfa_required, user_roles


class Command(BaseCommand):
    help = "List the demo accounts, their roles and which need a second factor (development only)."

    def handle(self, *args, **opts):
        users = get_user_model().objects.in_bulk([s[0] for s in STAFF], field_name="username")
        self.stdout.write(f"  Demo logins (password for all: {DEMO_PASSWORD}):")
        needs = []
        for username, *_ in STAFF:
            user = users.get(username)
            if user is None:
                continue
            roles = ", ".join(sorted(r.replace("_", " ") for r in user_roles(user))) or "no role"
            mfa = mfa_required(user)
            if mfa:
                needs.append(username)
            self.stdout.write(
                f"    {username:<12} {roles:<28} {'needs a TOTP code' if mfa else 'password only'}"
            )
        if needs:
            self.stdout.write(
                f"  {', '.join(needs)} need a TOTP code at sign-in. The demo accounts have one ready: in another"
            )
            self.stdout.write(
                "  terminal run  python3 dev.py manage demo_totp USERNAME  for the current code."
            )
