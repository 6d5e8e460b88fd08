"""Every model that holds patient data is in the write log: each installed model with a foreign key to
patients.Patient, or to a model that is itself patient-linked (a note's addendum, a prescription's event), is
registered with django-auditlog, whichever app it lives in."""

from auditlog.registry import auditlog
from django.apps import apps

from patients.models import Patient


def patient_linked_models() -> dict[str, str]:
    """label -> how it reaches a patient ("patient", or the chain of foreign keys)."""
    linked: dict[type, str] = {Patient: "itself"}
    changed = True
    while changed:  # to a fixed point: a -> b -> Patient
        changed = False
        for model in apps.get_models(include_auto_created=False):
            if model in linked or model._meta.proxy:
                continue
            for f in model._meta.concrete_fields:
                target = f.related_model if f.is_relation and (f.many_to_one or f.one_to_one) else None
                if target in linked:
                    via = f.name if target is Patient else f"{f.name} -> {target._meta.label}"
                    linked[model] = via
                    changed = True
                    break
    return {m._meta.label: via for m, via in linked.items()}


# Derived rows written only by the database (triggers), never by the ORM, so django-auditlog's signals could not
# see them anyway: the change that produces them (a patient's names) is itself in the write log.
DERIVED_BY_TRIGGER = {"patients.PatientNameWord"}


def test_every_patient_linked_model_is_registered_with_auditlog():
    linked = {k: v for k, v in patient_linked_models().items() if k not in DERIVED_BY_TRIGGER}
    # The walk finds the relations hidden from Patient._meta.related_objects, and indirect ones.
    assert {
        "encounters.Addendum",
        "prescriptions.InboxItem",
        "fhirapi.PatientLaunchContext",
        "patients.CareTeamMember",
    } <= set(linked)
    missing = sorted(
        f"{label} (via {via})"
        for label, via in linked.items()
        if not auditlog.contains(apps.get_model(label))
    )
    assert not missing, "patient-linked models not registered with django-auditlog:\n  " + "\n  ".join(
        missing
    )
