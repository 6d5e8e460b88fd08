from django.apps import AppConfig


class EncountersConfig(AppConfig):
    name = "encounters"
    verbose_name = "Scheduling and encounters"

    def ready(self):
        from auditlog.registry import auditlog

        from .models import Allergy, MedicationStatement

        auditlog.register(Allergy)
        auditlog.register(MedicationStatement)
