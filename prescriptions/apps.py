from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    name = "prescriptions"
    verbose_name = "E-prescribing"

    def ready(self):
        from auditlog.registry import auditlog

        from patients import chart

        from . import selectors
        from .models import PatientPharmacy, Prescription

        auditlog.register(Prescription)
        auditlog.register(PatientPharmacy)
        chart.register(order=40, name="prescriptions", fn=selectors.chart_section)
