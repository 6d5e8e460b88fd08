"""Every django-auditlog entry (a write to a registered model) also becomes an access event in the chain."""

from auditlog.models import LogEntry
from auditlog.signals import post_log
from django.dispatch import receiver

from .models import Action
from .services import access_record

_ACTIONS = {LogEntry.Action.CREATE: Action.CREATE, LogEntry.Action.UPDATE: Action.UPDATE,
            LogEntry.Action.DELETE: Action.DELETE}


def patient_id_of(instance):
    from patients.models import Patient

    if isinstance(instance, Patient):
        return instance.pk
    return getattr(instance, "patient_id", None)


@receiver(post_log)
def log_entry_to_access_event(sender, instance, action, changes, log_entry, log_created, error, **kwargs):
    if not log_created or log_entry is None or action not in _ACTIONS:
        return

    access_record(
        actor=log_entry.actor,
        action=_ACTIONS[action],
        category=getattr(sender, "audit_category", sender._meta.verbose_name),
        patient_id=patient_id_of(instance),
        channel="write",
        detail={"log_entry": log_entry.pk, "model": sender._meta.label, "object": str(log_entry.object_pk),
                "fields": sorted((changes or {}).keys())},
    )
