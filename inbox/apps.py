import importlib

from django.apps import AppConfig, apps

# Every patient-linked model of the inbox, with the fields that carry clinical content (masked in the change log).
AUDITED = {
    "InboxItem": ["title", "detail", "comment"],
    "InboxEvent": ["note"],
    "PatientNotice": ["message"],
}


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Clinical inbox"

    def ready(self):
        from auditlog.registry import auditlog

        from prescriptions import signals as rx_signals

        from . import receivers

        for model_name, masked in AUDITED.items():
            auditlog.register(self.get_model(model_name), mask_fields=masked)
        rx_signals.pharmacy_request_received.connect(
            receivers.on_pharmacy_request_received, dispatch_uid="inbox-rx-in"
        )
        rx_signals.pharmacy_request_answered.connect(
            receivers.on_pharmacy_request_answered, dispatch_uid="inbox-rx-done"
        )
        # The orders app (issue 20) sends results; it sits below the inbox in the layers.
        if apps.is_installed("orders"):
            order_signals = importlib.import_module("orders.signals")
            order_signals.result_filed.connect(receivers.on_result_filed, dispatch_uid="inbox-result")
            order_signals.result_reviewed.connect(receivers.on_result_reviewed, dispatch_uid="inbox-reviewed")
            order_signals.unmatched_result_received.connect(
                receivers.on_unmatched_result_received, dispatch_uid="inbox-unmatched"
            )
