from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders and results"

    def ready(self):
        from auditlog.registry import auditlog

        from patients import chart

        from . import selectors
        from .models import InboundMessage, Order, OutboundMessage, ResultReport

        # Patient-linked models: writes become audit events naming the patient. HL7 payloads (names, dates of
        # birth, values) stay out of the change log; they are kept in the rows themselves.
        auditlog.register(Order, mask_fields=["diagnoses", "answers", "status_reason"])
        auditlog.register(
            OutboundMessage, exclude_fields=["payload"], mask_fields=["last_error", "last_answer"]
        )
        auditlog.register(InboundMessage, exclude_fields=["raw"], mask_fields=["outcome", "candidates"])
        auditlog.register(ResultReport, mask_fields=["review_comment", "test_name"])
        chart.register(order=27, name="orders", fn=selectors.chart_orders)
