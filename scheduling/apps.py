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

        from . import models

        for name, masked in AUDITED.items():
            auditlog.register(getattr(models, name), mask_fields=masked)
