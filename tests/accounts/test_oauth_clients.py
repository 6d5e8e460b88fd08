"""Issue 18 #1: nobody mints an API credential for themselves. Only the OAuth endpoints a client needs are routed;
applications are made by administrators and audited; client-credentials apps act as service accounts that cannot
sign in; access tokens are short-lived."""

import io

import pytest
from django.core.management import CommandError, call_command
from oauth2_provider.models import get_application_model

from accounts.models import ServiceAccount
from audit.models import AccessEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
Application = get_application_model()


def create_client(*args) -> tuple[str, str]:
    out = io.StringIO()
    call_command("oauth_client_create", *args, stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    return lines["client_id"], lines.get("client_secret", "").split("  ")[0]


def client_credentials(client, client_id, secret, scope="system/*.read"):
    return client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope},
    )


@pytest.mark.parametrize(
    "path",
    [
        "/o/applications/",
        "/o/applications/register/",
        "/o/authorized_tokens/",
        "/o/register/",  # dynamic client registration
        "/o/device-authorization/",
        "/o/device/",
    ],
)
def test_self_service_registration_and_token_pages_are_not_routed(login, nurse, path):
    client = login(nurse)

    assert client.get(path).status_code == 404
    assert client.post(path, {"name": "mine", "client_type": "confidential"}).status_code == 404
    assert not Application.objects.exists()


def test_the_endpoints_a_client_uses_are_still_routed(client):
    from django.urls import reverse

    for name in ("authorize", "token", "revoke-token", "introspect"):
        assert reverse(f"oauth2_provider:{name}").startswith("/o/")
    assert client.post("/o/token/", {"grant_type": "client_credentials"}).status_code in (400, 401)


def test_a_client_credentials_app_of_a_persons_account_gets_no_token(client, nurse):
    """What the nurse of the report registered: her own confidential client-credentials app."""
    secret = "nurse-secret-0123456789"
    app = Application.objects.create(
        name="my script",
        user=nurse,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )

    response = client_credentials(client, app.client_id, secret)

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unauthorized_client", "invalid_client")
    assert "access_token" not in response.json()


def test_the_command_makes_a_service_account_and_a_short_lived_system_client(client):
    client_id, secret = create_client("Lab feed", "--service-account", "svc.lab", "--purpose", "lab results")

    account = ServiceAccount.objects.select_related("user").get(user__username="svc.lab")
    assert account.purpose == "lab results"
    assert not account.user.has_usable_password()
    app = Application.objects.get(client_id=client_id)
    assert app.user == account.user
    assert app.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert app.client_secret != secret  # only a hash is stored

    token = client_credentials(client, client_id, secret)

    assert token.status_code == 200, token.content
    body = token.json()
    assert 5 * 60 <= body["expires_in"] <= 60 * 60  # minutes, not the toolkit's 10 hours
    assert "refresh_token" not in body


def test_a_service_account_cannot_sign_in_even_with_a_password(client):
    create_client("Lab feed", "--service-account", "svc.lab")
    user = ServiceAccount.objects.get().user
    user.set_password(PASSWORD)  # e.g. a superuser typed one in the admin
    user.save()

    response = client.post("/accounts/login/", {"username": "svc.lab", "password": PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "did not match" in response.content.decode()


def test_the_command_refuses_a_taken_username_and_a_user_app_without_redirect(nurse):
    with pytest.raises(CommandError, match="taken"):
        create_client("x", "--service-account", nurse.username)
    with pytest.raises(CommandError, match="required"):
        create_client("x")  # neither kind named
    assert not Application.objects.exists()
    assert not ServiceAccount.objects.exists()


def test_creating_and_changing_an_application_is_audited_without_its_secret():
    client_id, secret = create_client("Charts", "--redirect-uri", "https://charts.example.test/cb")
    app = Application.objects.get(client_id=client_id)
    app.name = "Growth charts"
    app.save()

    events = AccessEvent.objects.filter(detail__model=Application._meta.label, detail__object=str(app.pk))
    assert sorted(events.values_list("action", flat=True)) == ["create", "update"]
    from auditlog.models import LogEntry

    for entry in LogEntry.objects.filter(object_pk=str(app.pk)):
        assert "client_secret" not in (entry.changes or {})
        assert secret not in str(entry.changes)


class TestAdmin:
    def form(self, user, grant):
        return {
            "name": "Backend",
            "client_id": "backend-client-id-0123456789",
            "client_secret": "backend-secret-0123456789",
            "hash_client_secret": "on",
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": grant,
            "redirect_uris": "",
            "post_logout_redirect_uris": "",
            "allowed_origins": "",
            "algorithm": "",
            "user": user.pk,
        }

    def test_practice_admins_cannot_manage_applications(self, login, admin_user):
        client = login(admin_user)

        assert client.get("/admin/oauth2_provider/application/add/").status_code == 403

    def test_a_superuser_cannot_give_a_system_app_to_a_person(self, login, nurse):
        root = UserFactory(username="root", is_superuser=True)
        client = login(root)

        response = client.post(
            "/admin/oauth2_provider/application/add/", self.form(nurse, Application.GRANT_CLIENT_CREDENTIALS)
        )

        assert response.status_code == 200
        assert "choose a service account" in response.content.decode()
        assert not Application.objects.exists()

    def test_a_superuser_makes_a_system_app_for_a_service_account_and_it_is_audited(self, login):
        from accounts.oauth_clients import service_account_create

        root = UserFactory(username="root", is_superuser=True)
        account = service_account_create(username="svc.billing", purpose="billing export")
        client = login(root)

        response = client.post(
            "/admin/oauth2_provider/application/add/",
            self.form(account, Application.GRANT_CLIENT_CREDENTIALS),
        )

        assert response.status_code == 302, response.content.decode()[:2000]
        app = Application.objects.get()
        assert AccessEvent.objects.filter(
            actor=root, action="create", detail__model=Application._meta.label, detail__object=str(app.pk)
        ).exists()


def _user_token(user, app):
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    access = get_access_token_model().objects.create(
        user=user,
        application=app,
        token=secrets.token_urlsafe(30),
        scope="user/*.read",
        expires=timezone.now() + timedelta(minutes=10),
    )
    get_refresh_token_model().objects.create(
        user=user, application=app, token=secrets.token_urlsafe(30), access_token=access
    )
    return access


def test_a_new_password_revokes_the_users_api_tokens(login, client, nurse, clinician):
    """The report: tokens survived the password change. Now a new password (or deactivation) ends them."""
    from django.urls import reverse
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    client_id, _ = create_client("Charts", "--redirect-uri", "https://charts.example.test/cb")
    app = Application.objects.get(client_id=client_id)
    _user_token(nurse, app)
    _user_token(clinician, app)
    new = "a-much-longer-new-passphrase-42"

    response = login(nurse).post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 302
    assert not get_access_token_model().objects.filter(user=nurse).exists()
    assert not get_refresh_token_model().objects.filter(user=nurse).exists()
    assert get_access_token_model().objects.filter(user=clinician).count() == 1  # nobody else's

    clinician.is_active = False
    clinician.save()
    assert not get_access_token_model().objects.filter(user=clinician).exists()
