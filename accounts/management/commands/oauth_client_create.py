"""Make an OAuth application for the FHIR API (administrators only: there is no self-service registration).

    manage.py oauth_client_create "Lab feed" --service-account svc.lab --purpose "lab results feed"
    manage.py oauth_client_create "Growth charts" --redirect-uri https://charts.example/callback

The first makes a service account (it cannot sign in) and a client-credentials app acting as it; give the account
its roles or care-team grants in the admin. The second makes a user app (authorization code with PKCE). The client
secret is printed once: only its hash is stored. Both are audited (accounts/oauth_clients.py).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.oauth_clients import oauth_client_create, service_account_create


class Command(BaseCommand):
    help = "Make an OAuth application (a user app, or a backend service with its own service account)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument(
            "--service-account", metavar="USERNAME", help="New service account for a backend app."
        )
        kind.add_argument("--redirect-uri", action="append", help="A user app's callback (repeatable).")
        parser.add_argument("--purpose", default="", help="What the backend service is (service accounts).")
        parser.add_argument("--public", action="store_true", help="A user app without a secret (PKCE only).")

    def handle(self, *args, name, service_account=None, redirect_uri=None, purpose="", public=False, **opts):
        try:
            with transaction.atomic():
                account = None
                if service_account:
                    account = service_account_create(username=service_account, purpose=purpose or name)
                app, secret = oauth_client_create(
                    name=name,
                    service_account=account,
                    redirect_uris=" ".join(redirect_uri or []),
                    public=public,
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"client_id: {app.client_id}")
        if secret:
            self.stdout.write(f"client_secret: {secret}  (shown once)")
