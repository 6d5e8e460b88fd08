"""Every django-auditlog entry (a write to a registered model) also becomes an access event in the chain, carrying
the SHA-256 of the entry's canonical content (audit.services.log_entry_canonical)."""

from auditlog.models import LogEntry
from auditlog.signals import post_log
from django.dispatch import receiver

from .models import Action
from .services import access_record, log_entry_hash
from .subjects import subject_model

_ACTIONS = {
    LogEntry.Action.CREATE: Action.CREATE,
    LogEntry.Action.UPDATE: Action.UPDATE,
    LogEntry.Action.DELETE: Action.DELETE,
}


def patient_id_of(instance, _depth: int = 0):
    """The patient a written row belongs to: itself, its `patient` foreign key, or the patient of a row it points
    to that has one (a prescription's event or outbound message)."""
    if isinstance(instance, subject_model()):
        return instance.pk
    pid = getattr(instance, "patient_id", None)
    if pid or _depth >= 2:
        return pid
    for f in instance._meta.concrete_fields:
        if f.many_to_one and f.related_model is not None and f.related_model is not instance.__class__:
            if getattr(instance, f.attname, None) is None:
                continue
            if any(x.name == "patient" for x in f.related_model._meta.concrete_fields):
                related = getattr(instance, f.name, None)
                if related is not None and (found := patient_id_of(related, _depth + 1)):
                    return found
    return None


@receiver(post_log)
def log_entry_to_access_event(sender, instance, action, changes, log_entry, log_created, error, **kwargs):
    if not log_created or log_entry is None or action not in _ACTIONS:
        return

    # The entry as stored (read back: the hash must match what audit_verify will read), hashed into the event's
    # detail: the event's own content hash then covers the write diff, and the chain covers both.
    stored = LogEntry.objects.get(pk=log_entry.pk)
    access_record(
        actor=log_entry.actor,
        action=_ACTIONS[action],
        category=getattr(sender, "audit_category", sender._meta.verbose_name),
        patient_id=patient_id_of(instance),
        channel="write",
        source_ip=stored.remote_addr,
        detail={
            "log_entry": log_entry.pk,
            "log_entry_sha256": log_entry_hash(stored),
            "model": sender._meta.label,
            "object": str(log_entry.object_pk),
            "fields": sorted((changes or {}).keys()),
        },
    )
