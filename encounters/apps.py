from django.apps import AppConfig

# Every patient-linked model of this app, with the fields that carry clinical or identifying content: their
# values are masked in the audit log's change records (the event still names the field, who and when).
AUDITED = {
    "Allergy": ["substance_text", "substance_rxcui", "substance_code", "reaction", "severity", "onset_date"],
    "MedicationStatement": ["name", "rxcui", "dose_text", "reason_text"],
    "Encounter": ["reason", "type_code", "type_display"],
    "Addendum": ["text"],
    "AmendmentRequest": ["requested_text", "decision_reason"],
    "VitalSigns": [
        "systolic",
        "diastolic",
        "heart_rate",
        "resp_rate",
        "temperature",
        "weight",
        "height",
        "temperature_entered",
        "weight_entered",
        "height_entered",
        "spo2",
        "pain_score",
        "bmi",
    ],
    "EncounterDiagnosis": ["code"],
    "Problem": ["code", "code_value", "description", "onset_date", "resolved_date"],
    "Immunization": ["vaccine_code", "vaccine_display", "lot_number", "site", "route"],
    "Observation": [
        "loinc_code",
        "display",
        "value_quantity",
        "value_unit",
        "value_text",
        "value_code",
        "interpretation",
    ],
}


class EncountersConfig(AppConfig):
    name = "encounters"
    verbose_name = "Encounters (the clinical record)"

    def ready(self):
        from auditlog.registry import auditlog
        from django.db.models.signals import post_delete, post_save

        from patients import chart
        from scheduling import signals

        from . import flow, models, selectors, units

        for name, masked in AUDITED.items():
            auditlog.register(getattr(models, name), mask_fields=masked)
        # Autosave writes a draft every few seconds: log the version and status, not each copy of the text
        # (the signed text is fixed by its SHA-256 hash).
        auditlog.register(
            models.Note, exclude_fields=["subjective", "objective", "assessment", "plan", "updated_at"]
        )
        # The clinical record follows the patient flow (checking in opens the encounter; done finishes it).
        signals.appointment_advanced.connect(flow.appointment_advanced, dispatch_uid="encounters.flow")
        chart.register(order=20, name="encounters", fn=selectors.chart_encounters)
        chart.register(order=21, name="problems", fn=selectors.chart_problems)
        chart.register(order=22, name="allergies", fn=selectors.chart_allergies)
        chart.register(order=23, name="medications", fn=selectors.chart_medications)
        chart.register(order=24, name="vitals", fn=selectors.chart_vitals)
        chart.register_variant(selectors.clinic_units_key)
        post_save.connect(units.forget, sender=models.ClinicUnits, dispatch_uid="encounters.units.saved")
        post_delete.connect(units.forget, sender=models.ClinicUnits, dispatch_uid="encounters.units.deleted")
        chart.register(order=25, name="results", fn=selectors.chart_results)
        chart.register(order=26, name="immunizations", fn=selectors.chart_immunizations)
