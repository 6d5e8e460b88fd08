from django.apps import AppConfig


class EhrConfig(AppConfig):
    """The project package: settings, URLs, the Celery app, WSGI, and the commands that stand above every app."""

    name = "ehr"
    verbose_name = "EHR"
