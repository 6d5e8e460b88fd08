from django.apps import AppConfig, apps

# The Django admin names each section after its app's verbose_name; the libraries' own are codes ("OTP_TOTP",
# "AXES"). Ours say what is there; set on their AppConfigs once the registry is ready, so the index, the app pages,
# the breadcrumbs and the side bar all read the same words.
READABLE_APP_NAMES = {
    "auth": "Staff accounts and roles",
    "axes": "Sign-in attempts and lockouts",
    "django_otp": "Two-step verification",
    "otp_totp": "Authenticator apps",
    "otp_static": "Recovery codes",
    "auditlog": "Write log (audit)",
    "guardian": "Care-team permissions",
    "oauth2_provider": "API clients (OAuth)",
    "sessions": "Sessions",
    "contenttypes": "Content types",
}


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        # Who may call the API is audited like any write (issue 18 #1): each save of an OAuth application or a
        # service account becomes a django-auditlog entry and an access event. The client secret never is.
        from auditlog.registry import auditlog
        from oauth2_provider.models import get_application_model

        from . import checks, signals  # noqa: F401  (registers the system checks and the receivers)
        from .models import ServiceAccount

        for label, name in READABLE_APP_NAMES.items():
            if label in apps.app_configs:
                apps.get_app_config(label).verbose_name = name
        auditlog.register(get_application_model(), exclude_fields=["client_secret"])
        auditlog.register(ServiceAccount)
