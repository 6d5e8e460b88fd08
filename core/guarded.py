"""Writes that fail in words: a constraint the database enforces becomes a ValidationError carrying the
constraint's own message (set in the app's models.py), and full_clean() errors read as sentences. Shared by the
apps' services; it knows no app (each passes its own app label)."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404


def constraint_messages(app_label: str) -> dict[str, str]:
    """Every check, unique and exclusion constraint of the app -> its human message."""
    out = {}
    for model in apps.get_app_config(app_label).get_models():
        for c in model._meta.constraints:
            if c.violation_error_message and "%(name)s" not in str(c.violation_error_message):
                out[c.name] = str(c.violation_error_message)
    return out


def integrity_message(exc: IntegrityError, messages: dict[str, str]) -> str | None:
    text = str(exc)
    for name, message in messages.items():
        if f'"{name}"' in text or name in text:
            return message
    return None


def save_guarded(obj, *, messages: dict[str, str], refusal=lambda exc: ValidationError, **kwargs) -> None:
    """Save in a savepoint; a constraint the database enforces (a race the earlier checks could not see, such as
    two people booking one slot) becomes a ValidationError (or the class `refusal(exc)` names) with the
    constraint's message, never a raw error."""
    try:
        with transaction.atomic():
            obj.save(**kwargs)
    except IntegrityError as exc:
        message = integrity_message(exc, messages)
        if message is None:
            raise
        raise refusal(exc)(message) from None


def clean(obj, **kwargs) -> None:
    """full_clean() whose errors read as sentences (constraint messages are set in models.py)."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        raise ValidationError(exc.messages) from None


def patient_id_of(model, pk, what: str):
    """The patient a row belongs to (to pass to the door), or Http404 for an unknown or malformed id."""
    try:
        return model.objects.values_list("patient_id", flat=True).get(pk=pk)
    except (model.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404(f"No {what} found") from None
