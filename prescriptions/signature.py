"""Signing: the signing rules (re-authentication, alerts with override reasons, EPCS two factors) and
signing a draft, which queues its NewRx.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record

from . import checks, lifecycle, mapping, ncpdp, ncpdp_build, outbox, selectors
from .models import (
    Medication,
    Prescription,
    RxStatus,
)


class AlertsNeedOverride(ValidationError):
    def __init__(self, alerts):
        super().__init__("High-severity alerts need an override reason before signing.")
        self.alerts = alerts


# ------------------------------------------------------------------ signing
def authorize_signature(
    *,
    actor,
    patient,
    medication: Medication,
    schedule: str,
    password: str,
    totp_code: str,
    override_reasons,
    request,
) -> list[dict]:
    """The signing rules, shared by new prescriptions and approved renewals and changes; returns the overrides.

    A practitioner with an NPI; for schedules II-V a valid, unexpired DEA registration and a TOTP code (DEA EPCS,
    21 CFR 1311.120: two factors at signing); the password again (re-authentication, counted by axes towards the
    lockout); an override reason for every high-severity alert. The one-time code is verified LAST: verifying
    consumes it (django-otp refuses a code twice), so a refusal for any other reason must not cost the code.
    """
    controlled = bool(schedule)
    _signer_check(actor, controlled=controlled, totp_code=totp_code)
    if authenticate(request or HttpRequest(), username=actor.get_username(), password=password or "") is None:
        raise ValidationError({"password": "Password incorrect: signing needs your password again."})
    overrides = _overrides(patient=patient, medication=medication, override_reasons=override_reasons)
    if controlled:
        _totp_check(actor, totp_code)
    return overrides


def _signer_check(actor, *, controlled: bool, totp_code: str) -> None:
    """A practitioner with an NPI; for a controlled substance a valid DEA registration and a code entered."""
    practitioner = getattr(actor, "practitioner", None)
    if practitioner is None:
        raise ValidationError("Only a practitioner with an NPI can sign prescriptions.")
    if not controlled:
        return
    if not practitioner.can_prescribe_controlled(timezone.localdate()):
        raise ValidationError("A valid, unexpired DEA registration is needed for controlled substances.")
    if not (totp_code or "").strip():
        raise ValidationError({"totp_code": "Enter the current code from your authenticator app."})


def _overrides(*, patient, medication: Medication, override_reasons) -> list[dict]:
    """The override of every high-severity alert, each with its reason (AlertsNeedOverride when one is missing)."""
    alerts = checks.prescription_check(patient=patient, medication=medication)
    reasons = {k: v.strip() for k, v in (override_reasons or {}).items() if v and v.strip()}
    high = [a for a in alerts if a.severity == "high"]
    if any(a.key not in reasons for a in high):
        raise AlertsNeedOverride(alerts)
    return [{"source": a.source, "message": a.message, "reason": reasons[a.key]} for a in high]


def _totp_check(actor, totp_code: str) -> None:
    """Verify (and so consume) the one-time code against the actor's confirmed authenticators."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    devices = list(TOTPDevice.objects.filter(user=actor, confirmed=True))
    if not any(d.verify_token(totp_code.strip()) for d in devices):
        raise ValidationError({"totp_code": "Enter the current code from your authenticator app."})


def prescription_sign(
    *,
    actor,
    prescription_id,
    password: str,
    totp_code: str = "",
    override_reasons: dict[str, str] | None = None,
    request=None,
) -> Prescription:
    """Sign a draft (see authorize_signature for the rules), then queue the NewRx when the pharmacy takes
    NewRx electronically, or leave it signed for printing / faxing. Caller: the prescriber who wrote it.
    """
    rx = selectors.prescription_get(
        actor=actor, prescription_id=prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    if rx.prescriber_id != actor.pk:
        raise PermissionDenied("Only the prescriber who wrote it can sign this prescription.")
    if rx.status != RxStatus.DRAFT:
        raise ValidationError("This prescription is already signed.")
    overrides = authorize_signature(
        actor=actor,
        patient=rx.patient,
        medication=rx.medication,
        schedule=rx.dea_schedule,
        password=password,
        totp_code=totp_code,
        override_reasons=override_reasons,
        request=request,
    )
    pharmacy = rx.pharmacy
    electronic = bool(pharmacy and pharmacy.accepts_message(ncpdp.NEW_RX))
    with transaction.atomic():
        locked = Prescription.objects.select_for_update().get(pk=rx.pk)
        if locked.status != RxStatus.DRAFT:
            raise ValidationError("This prescription is already signed.")
        rx.signed_at = timezone.now()
        rx.override_reasons = overrides
        rx.save(update_fields=["signed_at", "override_reasons"])
        lifecycle.status_move(
            rx, RxStatus.SIGNED, "signed with re-authentication" + (" + TOTP" if rx.dea_schedule else "")
        )
        if electronic:
            message_id = ncpdp.new_message_id()
            xml = ncpdp_build.build_new_rx(mapping.new_rx_data(rx, message_id))
            outbox.outbox_add(
                rx=rx, message_type=ncpdp.NEW_RX, message_id=message_id, xml=xml, pharmacy=pharmacy
            )
            lifecycle.status_move(rx, RxStatus.QUEUED, f"NewRx {message_id} to {pharmacy.name}")
        elif pharmacy is not None and pharmacy.is_electronic:
            lifecycle.timeline_note(
                rx, f"{lifecycle.not_accepted(pharmacy, ncpdp.NEW_RX)}: print or fax this prescription"
            )
        medication_record(rx, actor)
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={
                "prescription": str(rx.pk),
                "overrides": overrides,
                "controlled": rx.dea_schedule or None,
            },
        )
    return rx


def medication_record(rx: Prescription, actor) -> None:
    """Put the prescribed drug on the patient's medication list (owned by encounters)."""
    from encounters import services as enc

    enc.medication_record_prescribed(
        patient=rx.patient,
        rxcui=rx.medication.rxcui,
        name=rx.medication.name,
        dose_text=rx.sig_text,
        prescription_id=rx.pk,
        actor=actor,
    )
