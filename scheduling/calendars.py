"""Providers' time off and blocked time, and their iCalendar subscription feeds."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from core.guarded import clean as _clean

from .guards import save_guarded as _save_guarded
from .models import (
    FREE_STATUSES,
    Appointment,
    ProviderFeed,
    TimeOff,
)


# ------------------------------------------------------------------ providers' time off (reference data)
def _calendar_manager(actor) -> None:
    if not actor.has_perm("scheduling.manage_calendar"):
        raise PermissionDenied("Managing calendars needs the front desk or practice admin role.")


def time_off_add(
    *, actor, provider, kind: str, start: datetime, end: datetime, reason: str = ""
) -> tuple[TimeOff, int]:
    """Record a provider's time off or blocked time. Who: users with scheduling.manage_calendar (front desk,
    practice admin). Returns the row and how many booked appointments fall in it (the desk moves them)."""
    _calendar_manager(actor)
    off = TimeOff(provider=provider, kind=kind, start=start, end=end, reason=(reason or "").strip())
    _clean(off)
    _save_guarded(off, force_insert=True)
    clashing = (
        Appointment.objects.filter(provider=provider, start__lt=end, end__gt=start)
        .exclude(status__in=FREE_STATUSES)
        .count()
    )
    return off, clashing


def time_off_delete(*, actor, time_off_id) -> None:
    _calendar_manager(actor)
    deleted, _ = TimeOff.objects.filter(pk=time_off_id).delete()
    if not deleted:
        raise Http404("No time off found")


# ------------------------------------------------------------------ calendar subscription feeds
def _feed_manager(actor, provider) -> None:
    if actor.pk != provider.pk and not actor.has_perm("scheduling.manage_calendar"):
        raise PermissionDenied("Only the provider or a calendar manager handles this feed.")


def provider_feed_issue(*, actor, provider) -> str:
    """A new secret subscription token for the provider's calendar (replacing any earlier one, whose URL stops
    working at once). The token is returned once; only its SHA-256 is stored."""
    _feed_manager(actor, provider)
    token = secrets.token_urlsafe(32)
    ProviderFeed.objects.update_or_create(
        provider=provider,
        defaults={
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "created_by": actor,
            "last_used_at": None,
        },
    )
    return token


def provider_feed_revoke(*, actor, provider) -> bool:
    _feed_manager(actor, provider)
    deleted, _ = ProviderFeed.objects.filter(provider=provider).delete()
    return bool(deleted)


def provider_feed_used(*, feed_id) -> None:
    """When a calendar app last fetched the feed (shown next to the revoke button)."""
    ProviderFeed.objects.filter(pk=feed_id).update(last_used_at=timezone.now())
