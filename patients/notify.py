"""The privacy officers' email about an emergency access (break the glass), sent by the Celery task in tasks.py.

Below services and tasks: services.py queues the task, tasks.py calls this; nothing here imports either.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import roles

from .models import BreakGlassGrant


def break_glass_notify_send(*, grant_id) -> bool:
    """Email every privacy officer about one emergency access. Idempotent: sends once per grant."""
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mail

    with transaction.atomic():
        grant = (
            BreakGlassGrant.objects.select_for_update()
            .select_related("user", "patient")
            .filter(pk=grant_id, notified_at__isnull=True)
            .first()
        )
        if grant is None:
            return False
        officers = list(
            get_user_model()
            .objects.filter(groups__name=roles.Role.PRIVACY_OFFICER, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
        to = sorted(set(officers) | set(settings.PRIVACY_OFFICER_EMAILS))
        if to:
            send_mail(
                subject="Emergency access (break the glass) to a patient record",
                message=(
                    f"{grant.user.get_full_name() or grant.user.username} used emergency access to the record "
                    f"with MRN {grant.patient.mrn} at {grant.granted_at:%Y-%m-%d %H:%M %Z}.\n"
                    f"Reason given: {grant.reason}\nAccess expires at {grant.expires_at:%Y-%m-%d %H:%M %Z}.\n"
                    "Review it in the audit reports."
                ),
                from_email=None,
                recipient_list=to,
            )
        grant.notified_at = timezone.now()
        grant.save(update_fields=["notified_at"])
    return True
