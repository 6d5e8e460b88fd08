from django.apps import AppConfig
from django.db.models.signals import post_migrate


def grants_after_migrate(sender, using="default", **kwargs):
    """After every migrate (run as the owner), give the application role its privileges again, new tables
    included (audit/dbroles.py). Nothing to do when one role does both (DATABASE_APP_ROLE unset)."""
    from django.conf import settings
    from django.db import connections

    from .dbroles import grants_apply

    if settings.DATABASE_APP_ROLE:
        grants_apply(connection=connections[using], app_role=settings.DATABASE_APP_ROLE)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from . import signals  # noqa: F401

        post_migrate.connect(grants_after_migrate, sender=self, dispatch_uid="audit-grants-after-migrate")
