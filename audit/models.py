"""The audit trail: one append-only table of access events (reads, writes, denials) and a hash chain over it.

ASTM E2147 fields: when (occurred_at), who (actor), which patient (patient_id / patient_ids), action, data category,
source address, outcome, break-the-glass flag. Writes also leave a django-auditlog LogEntry with the field
changes (PHI masked); that entry's id is named in the event's detail so the chain covers writes too.

`audit_accessevent` is partitioned by month in PostgreSQL (see migrations/0001). Rows are never updated, deleted
or truncated: triggers refuse it, and the application's database role holds no such privilege (audit/dbroles.py).
The chain lives in `audit_chainlink`, appended by a background job (audit.services.audit_link_chain) so that
concurrent requests never queue on one lock; `audit_unlinked` is its work queue (migrations/0003).
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Action(models.TextChoices):
    VIEW = "view", "View"
    LIST = "list", "List / search"
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    EXPORT = "export", "Export"
    PRINT = "print", "Print"
    SIGN = "sign", "Sign"
    TRANSMIT = "transmit", "Transmit"
    BREAK_GLASS = "break_glass", "Break the glass"
    MERGE = "merge", "Merge"
    LOGIN = "login", "Sign in"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    FAILURE = "failure", "Failure"


class AccessEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    # Which kind of actor (core/actors.py: staff, patient, proxy, system); empty for events with no actor (a
    # background task, an inbound message) and for events recorded before actor kinds.
    actor_kind = models.CharField(max_length=10, blank=True, default="", db_default="")
    # For whom: the patient a patient or a proxy acts for (the represented patient).
    on_behalf_of = models.UUIDField(null=True, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    patient_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    category = models.CharField(max_length=60, help_text="Data category, e.g. 'medication list'")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    break_glass = models.BooleanField(default=False)
    channel = models.CharField(max_length=10, default="ui", help_text="ui, admin, api, task, command")
    request_id = models.UUIDField(default=uuid.uuid4)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        managed = True
        ordering = ["-occurred_at"]
        permissions = [("view_reports", "Can view audit reports")]
        indexes = [
            models.Index(fields=["patient_id", "occurred_at"], name="audit_ev_patient_time"),
            models.Index(fields=["actor", "occurred_at"], name="audit_ev_actor_time"),
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_username} {self.action} {self.category}"


class ChainLink(models.Model):
    """Position of one event in the hash chain. Append-only; seq has no gaps."""

    seq = models.BigIntegerField(primary_key=True)
    event_id = models.BigIntegerField(unique=True)
    event_time = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"#{self.seq} -> event {self.event_id}"


class UnlinkedEvent(models.Model):
    """An event not yet linked into the chain: inserted by a trigger when the event is inserted, deleted by a
    trigger when its link is inserted (migrations/0003). The linker's work queue, whatever the event's id (a late
    commit with a low id is found too), and what audit_verify counts as overdue, without scanning the events.
    The application's role may only read it."""

    event_id = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "audit_unlinked"

    def __str__(self):
        return f"event {self.event_id} (unlinked)"
