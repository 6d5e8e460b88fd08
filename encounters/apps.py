from django.apps import AppConfig


class EncountersConfig(AppConfig):
    name = "encounters"
    verbose_name = "Scheduling and encounters"

    def ready(self):
        from auditlog.registry import auditlog
        from django.conf import settings

        from patients import chart

        from . import models, selectors

        for model in (
            models.Allergy,
            models.MedicationStatement,
            models.Appointment,
            models.Series,
            models.WaitlistEntry,
            models.Encounter,
            models.Addendum,
            models.AmendmentRequest,
            models.VitalSigns,
            models.Problem,
        ):
            auditlog.register(model)
        # Autosave writes a draft every few seconds: log the version and status, not each copy of the text
        # (the signed text is fixed by its SHA-256 hash).
        auditlog.register(
            models.Note, exclude_fields=["subjective", "objective", "assessment", "plan", "updated_at"]
        )
        # The beat schedule lives in settings; this app adds its own entry rather than editing the shared file.
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "encounters-reminders", {"task": "encounters.tasks.reminders_send", "schedule": 60.0}
        )
        chart.register(order=20, name="encounters", fn=selectors.chart_encounters)
        chart.register(order=21, name="problems", fn=selectors.chart_problems)
        chart.register(order=22, name="allergies", fn=selectors.chart_allergies)
        chart.register(order=23, name="medications", fn=selectors.chart_medications)
        chart.register(order=24, name="vitals", fn=selectors.chart_vitals)
