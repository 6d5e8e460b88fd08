from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    name = "prescriptions"
    verbose_name = "E-prescribing"

    def ready(self):
        from auditlog.registry import auditlog

        from patients import chart

        from . import selectors
        from .models import (
            InboundAnswer,
            InboxItem,
            OutboundMessage,
            PatientPharmacy,
            Prescription,
            PrescriptionEvent,
        )

        # Every patient-linked model: writes become audit events naming the patient (its `patient` FK). PHI is
        # masked; the raw SCRIPT payloads (names, addresses, drugs) are left out of the change log entirely.
        auditlog.register(
            Prescription,
            exclude_fields=["updated_at"],
            mask_fields=[
                "sig_text",
                "diagnosis",
                "diagnosis_description",
                "note_to_pharmacist",
                "status_reason",
                "override_reasons",
                "as_needed_reason",
            ],
        )
        auditlog.register(PatientPharmacy)
        auditlog.register(PrescriptionEvent, mask_fields=["detail"])
        auditlog.register(OutboundMessage, exclude_fields=["payload"], mask_fields=["last_error"])
        auditlog.register(InboxItem, exclude_fields=["payload"], mask_fields=["summary", "fields"])
        auditlog.register(InboundAnswer, mask_fields=["description"])
        chart.register(order=40, name="prescriptions", fn=selectors.chart_section)
        chart.register(order=45, name="pharmacy", fn=selectors.chart_pharmacy)
