"""The prescriber's answer to a pharmacy's renewal or change request (approve = sign a new prescription,
or deny), sent through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record

from . import (
    lifecycle,
    mapping,
    ncpdp,
    ncpdp_build,
    ncpdp_parse,
    outbox,
    selectors,
    services,
    signals,
    signature,
)
from .models import (
    SCHEDULES_BY_CODE,
    InboxItem,
    InboxKind,
    InboxStatus,
    Medication,
    Prescription,
    RxStatus,
    refill_limit,
)


# ------------------------------------------------------------------ the prescriber's answers
def _strictest(*schedules: str) -> str:
    """The DEA schedule with the tightest refill limit (the catalog's and the one the pharmacy sent)."""
    known = [s for s in schedules if s]
    return min(known, key=refill_limit) if known else ""


def _option_values(original: Prescription, option: dict) -> dict:
    """Quantity, unit, days' supply and directions of a requested drug; the original's where the pharmacy's value
    is missing or unusable."""
    values = {
        "quantity": original.quantity,
        "quantity_unit": original.quantity_unit,
        "days_supply": original.days_supply,
        "sig_text": original.sig_text,
    }
    try:
        quantity = Decimal(str(option.get("quantity") or ""))
        if quantity > 0:
            values["quantity"] = quantity
    except InvalidOperation:
        pass
    if option.get("quantity_unit") in ncpdp.QUANTITY_UNITS:
        values["quantity_unit"] = option["quantity_unit"]
    days = str(option.get("days_supply") or "")
    if days.isdigit() and 0 < int(days) <= 999:
        values["days_supply"] = int(days)
    if option.get("sig_text"):
        values["sig_text"] = str(option["sig_text"])[:1000]
    return values


def _successor(
    original: Prescription,
    *,
    actor,
    medication: Medication,
    schedule: str,
    refills: int,
    pharmacy,
    overrides: list[dict],
    values: dict,
) -> Prescription:
    """The new prescription an approved renewal or change creates, linked to the one it renews or replaces."""
    new = Prescription(
        patient=original.patient,
        prescriber=actor,
        medication=medication,
        dea_schedule=schedule,
        dose=original.dose,
        dose_unit=original.dose_unit,
        route=original.route,
        frequency=original.frequency,
        duration_days=original.duration_days,
        as_needed=original.as_needed,
        as_needed_reason=original.as_needed_reason,
        sig_text=values["sig_text"],
        quantity=values["quantity"],
        quantity_unit=values["quantity_unit"],
        days_supply=values["days_supply"],
        refills=refills,
        substitution_allowed=original.substitution_allowed,
        diagnosis=original.diagnosis,
        diagnosis_description=original.diagnosis_description,
        pharmacy=pharmacy,
        status=RxStatus.SIGNED,
        override_reasons=overrides,
        replaces=original,
        signed_at=timezone.now(),
    )
    new.prescriber_order_number = new.id.hex
    new.full_clean()
    return new


@dataclass(frozen=True)
class _Decision:
    """What the prescriber decided: the response's outcome and medication, the new prescription an approval
    creates, and the note the response carries."""

    outcome: str
    medication: ncpdp.MedicationData
    new: Prescription | None = None
    note: str = ""


def _asked_refills(value) -> int:
    text = str(value or "0")
    return int(text) if text.isdigit() else 0


def _open_request(*, actor, item_id, request) -> tuple[InboxItem, Prescription]:
    """The open request and its prescription, if `actor` may answer it (the checks before anything is built)."""
    item = selectors.inbox_item_get(actor=actor, item_id=item_id, request=request, record=False)
    if item.status != InboxStatus.OPEN or item.kind == InboxKind.CANCEL_RESPONSE:
        raise ValidationError("This request is already answered.")
    if item.prescription_id is None:
        raise ValidationError("This request matches no prescription here; answer the pharmacy by phone.")
    rx = selectors.prescription_get(
        actor=actor, prescription_id=item.prescription_id, perm=roles.PRESCRIBE, request=request, record=False
    )
    if (
        rx.pharmacy_id != item.pharmacy_id
    ):  # matched at receipt already; checked again before sending anything
        raise PermissionDenied("This prescription was not sent to the pharmacy asking.")
    return item, rx


def _denial(rx: Prescription, *, renewal: bool, reason_code: str) -> _Decision:
    allowed = ncpdp.RENEWAL_DENIAL_CODES if renewal else ncpdp.CHANGE_DENIAL_CODES
    if reason_code not in allowed:
        raise ValidationError({"reason_code": "Pick a denial reason."})
    return _Decision(outcome=ncpdp.OUTCOME_DENIED, medication=mapping.medication_data(rx))


def _requested_drug(
    rx: Prescription, parsed: ncpdp.ParsedMessage, *, renewal: bool, option: int | None
) -> tuple[Medication, dict, dict]:
    """(drug, the pharmacy's fields for it, quantity/unit/supply/directions) of what is asked for: the same
    drug for a renewal, the option the prescriber picked for a change."""
    if renewal:
        return rx.medication, parsed.fields, _option_values(rx, {})
    options = parsed.fields.get("requested") or []
    if option is None or not 0 <= option < len(options):
        raise ValidationError({"option": "Pick one of the drugs the pharmacy asked for."})
    chosen = options[option]
    medication = selectors.medication_by_rxcui(rxcui=chosen.get("rxnorm_code", ""))
    if medication is None:
        raise ValidationError(
            {"option": "That drug is not in the catalog here: deny, or answer the pharmacy by phone."}
        )
    return medication, chosen, _option_values(rx, chosen)


def _refills_granted(*, asked: int, refills: int | None, schedule: str, note: str) -> tuple[int, str]:
    """(refills granted, the response's note): the prescriber's count within the limits, or what was asked for
    cut to the schedule's limit (and the note says so)."""
    if refills is not None:
        problem = services.refills_problem(refills=refills, schedule=schedule)
        if problem:
            raise ValidationError({"refills": problem})
        return refills, note
    final = min(asked, refill_limit(schedule))
    if final != asked:
        note = f"Refills reduced from {asked} to {final}: Schedule {schedule} limit. {note}".strip()
    return final, note


def _approval(
    rx: Prescription,
    item: InboxItem,
    parsed: ncpdp.ParsedMessage,
    *,
    actor,
    renewal: bool,
    option: int | None,
    refills: int | None,
    note: str,
    signing: dict,
) -> _Decision:
    """Approving is signing a new prescription (the signing rules apply) linked to the original."""
    medication, asked_fields, values = _requested_drug(rx, parsed, renewal=renewal, option=option)
    asked = _asked_refills(asked_fields.get("refills"))
    pharmacy_schedule = SCHEDULES_BY_CODE.get(asked_fields.get("dea_schedule", ""), "")
    schedule = _strictest(medication.dea_schedule, pharmacy_schedule)
    final, outcome_note = _refills_granted(asked=asked, refills=refills, schedule=schedule, note=note)
    overrides = signature.authorize_signature(
        actor=actor, patient=rx.patient, medication=medication, schedule=schedule, **signing
    )
    new = _successor(
        rx,
        actor=actor,
        medication=medication,
        schedule=schedule,
        refills=final,
        pharmacy=item.pharmacy,
        overrides=overrides,
        values=values,
    )
    outcome = ncpdp.OUTCOME_APPROVED if final == asked else ncpdp.OUTCOME_APPROVED_WITH_CHANGES
    return _Decision(outcome=outcome, medication=mapping.medication_data(new), new=new, note=outcome_note)


def _response_xml(
    *,
    actor,
    rx: Prescription,
    item: InboxItem,
    parsed: ncpdp.ParsedMessage,
    decision: _Decision,
    message_id: str,
    reason_code: str,
    note: str,
) -> bytes:
    """The RxRenewalResponse or RxChangeResponse (§4) answering `parsed`."""
    approve = decision.outcome != ncpdp.OUTCOME_DENIED
    header = replace(
        ncpdp.reply_header(parsed, message_id=message_id, software=mapping.SOFTWARE),
        from_id=mapping.spi_for(actor),
        from_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
        prescriber_order_number=(decision.new or rx).prescriber_order_number,
    )
    common = dict(
        header=header,
        outcome=decision.outcome,
        patient=mapping.patient_data(rx.patient),
        pharmacy=mapping.pharmacy_data(item.pharmacy),
        prescriber=mapping.prescriber_data(actor),
        medication=decision.medication,
        reason_codes=() if approve else (reason_code,),
        denial_reason="" if approve else note,
        note=decision.note if approve else "",
    )
    if item.kind == InboxKind.RENEWAL:
        return ncpdp_build.build_rx_renewal_response(ncpdp.RxRenewalResponseData(**common))
    return ncpdp_build.build_rx_change_response(
        ncpdp.RxChangeResponseData(
            **common,
            request_code=parsed.fields.get("request_code") or "S",
            request_subcodes=tuple(parsed.fields.get("request_subcodes") or ()),
        )
    )


def _successor_record(*, actor, rx: Prescription, new: Prescription, renewal: bool) -> None:
    """Save the new prescription; the original is renewed or replaced by it; the drug goes on the med list."""
    new.save(force_insert=True)
    verb = "renewal" if renewal else "change"
    lifecycle.timeline_note(
        new,
        f"{verb} of {rx.prescriber_order_number} approved; signed with re-authentication"
        + (" + TOTP" if new.dea_schedule else ""),
    )
    lifecycle.status_move(
        rx,
        RxStatus.RENEWED if renewal else RxStatus.REPLACED,
        f"{verb} approved: new prescription {new.prescriber_order_number} "
        f"({new.medication.name}, {new.refills} refills)",
    )
    signature.medication_record(new, actor)


def _response_queue(*, item: InboxItem, carrier: Prescription, new, message_id: str, xml: bytes) -> None:
    """The response goes out through the outbox, or the print/fax path when the pharmacy does not take it."""
    mtype = ncpdp.RX_RENEWAL_RESPONSE if item.kind == InboxKind.RENEWAL else ncpdp.RX_CHANGE_RESPONSE
    if not item.pharmacy.accepts_message(mtype):
        lifecycle.timeline_note(
            carrier,
            f"{lifecycle.not_accepted(item.pharmacy, mtype)}: "
            + ("print or fax the new prescription" if new is not None else "phone or fax the denial"),
        )
        return
    outbox.outbox_add(
        rx=carrier,
        message_type=mtype,
        message_id=message_id,
        xml=xml,
        pharmacy=item.pharmacy,
        inbox_item=item,
    )
    if new is not None:
        lifecycle.status_move(new, RxStatus.QUEUED, f"{mtype} {message_id} to {item.pharmacy.name}")


def inbox_respond(
    *,
    actor,
    item_id,
    approve: bool,
    reason_code: str = "",
    note: str = "",
    option: int | None = None,
    refills: int | None = None,
    password: str = "",
    totp_code: str = "",
    override_reasons: dict[str, str] | None = None,
    request=None,
) -> InboxItem:
    """Approve or deny a renewal / change request; the response goes out through the outbox.

    Caller: the prescriber the request is addressed to, still holding PRESCRIBE on the patient. Approving is
    signing a new prescription: the signing rules apply (re-authentication, alerts with override reasons, TOTP and
    a valid DEA registration for schedules II-V), refills keep the federal limits, and a new prescription linked
    to the original is created. A change approval carries the drug the prescriber picked among the requested ones.
    A pharmacy that does not take the response electronically gets the print/fax path.
    """
    item, rx = _open_request(actor=actor, item_id=item_id, request=request)
    parsed = ncpdp_parse.parse_message(bytes(item.payload))
    renewal = item.kind == InboxKind.RENEWAL
    if approve:
        signing = dict(
            password=password, totp_code=totp_code, override_reasons=override_reasons, request=request
        )
        decision = _approval(
            rx,
            item,
            parsed,
            actor=actor,
            renewal=renewal,
            option=option,
            refills=refills,
            note=note,
            signing=signing,
        )
    else:
        decision = _denial(rx, renewal=renewal, reason_code=reason_code)
    message_id = ncpdp.new_message_id()
    xml = _response_xml(
        actor=actor,
        rx=rx,
        item=item,
        parsed=parsed,
        decision=decision,
        message_id=message_id,
        reason_code=reason_code,
        note=note,
    )
    new = decision.new
    with transaction.atomic():
        locked = InboxItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != InboxStatus.OPEN:
            raise ValidationError("This request is already answered.")
        item.status = InboxStatus.APPROVED if approve else InboxStatus.DENIED
        item.resolved_at = timezone.now()
        item.save(update_fields=["status", "resolved_at"])
        if new is not None:
            _successor_record(actor=actor, rx=rx, new=new, renewal=renewal)
        else:
            lifecycle.timeline_note(
                rx, f"{item.get_kind_display()} denied ({reason_code}{': ' + note if note else ''})"
            )
        _response_queue(item=item, carrier=new or rx, new=new, message_id=message_id, xml=xml)
        signals.pharmacy_request_answered.send(sender=InboxItem, item=item, actor=actor)
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.PRESCRIPTION,
            patient_id=rx.patient_id,
            request=request,
            detail={
                "inbox": str(item.pk),
                "approved": approve,
                "new_prescription": str(new.pk) if new else None,
                "overrides": new.override_reasons if new else [],
            },
        )
    return item
