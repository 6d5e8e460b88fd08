from django.apps import AppConfig

# Every patient-linked model of this app, with the fields that carry clinical or identifying content: their
# values are masked in the audit log's change records (the event still names the field, who and when).
AUDITED = {
    "Appointment": ["reason", "cancel_reason", "override_reason"],
    "Series": ["reason", "override_reason"],
    "WaitlistEntry": ["note"],
    "Reminder": ["detail"],
}


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self):
        from auditlog.registry import auditlog
        from celery.schedules import crontab
        from django.conf import settings

        from . import models

        for name, masked in AUDITED.items():
            auditlog.register(getattr(models, name), mask_fields=masked)
        # The beat schedule lives in settings; this app adds its own entries rather than editing the shared file.
        # The entries' keys and task names are those they had when scheduling was part of encounters.
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "encounters-reminders", {"task": "encounters.tasks.reminders_send", "schedule": 60.0}
        )
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "encounters-series-extend",
            {"task": "encounters.tasks.series_extend", "schedule": crontab(hour=3, minute=17)},
        )
