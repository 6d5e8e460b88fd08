from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers the system checks and the receivers)
