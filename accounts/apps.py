from django.apps import AppConfig


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

        auditlog.register(get_application_model(), exclude_fields=["client_secret"])
        auditlog.register(ServiceAccount)
