from django.apps import AppConfig

# The clinic's configuration, written from the settings pages (and the Django admin): each save is a django-auditlog
# entry and an access event (audit/signals.py), category the model's name, actor the signed-in admin.
AUDITED = [
    ("scheduling", "Location"),
    ("scheduling", "Room"),
    ("scheduling", "AppointmentType"),
    ("scheduling", "WorkingHours"),
    ("encounters", "NoteTemplate"),
    ("encounters", "ClinicUnits"),
]


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic settings"

    def ready(self):
        from auditlog.registry import auditlog

        for app_label, model in AUDITED:
            auditlog.register(self.apps.get_model(app_label, model))
