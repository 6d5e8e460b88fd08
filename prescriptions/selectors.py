"""Every read of prescriptions (the safety checks are in ``prescriptions.checks``).

Patient-linked reads go through ``patients.selectors.patient_get`` (permission check + access event); outsiders get
Http404. Catalog reads (medications, pharmacies, interactions) are not patient data.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import cast

from django.contrib.postgres.lookups import TrigramWordSimilar
from django.contrib.postgres.search import TrigramWordSimilarity
from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from core.links import pk_url
from core.prepared import SENTINEL_ID, Prepared
from patients.access import visible_patients
from patients.selectors import _as_uuid, patient_get

from .models import (
    InboundAnswer,
    InboxItem,
    InboxKind,
    InboxStatus,
    Medication,
    OutboundMessage,
    OutboundStatus,
    PatientPharmacy,
    Pharmacy,
    PrescriberSpi,
    Prescription,
    refill_limit,
)


def as_uuid(value):
    """A UUID from a URL or task argument, or None."""
    return _as_uuid(value)


# ------------------------------------------------------------------ catalog
def medication_search(*, q: str, limit: int = 15) -> list[Medication]:
    """Prescribable products whose name contains every word of `q` (typos tolerated by the trigram index)."""
    words = [w for w in re.split(r"\s+", (q or "").strip().lower()) if w][:5]
    if not words or len(q.strip()) < 2:
        return []
    qs = Medication.objects.filter(is_active=True)
    for w in words:
        cond = Q(name__icontains=w)
        if len(w) >= 4:
            cond |= Q(TrigramWordSimilar(F("name"), Value(w)))
        qs = qs.filter(cond)
    ranked = qs.annotate(rank=TrigramWordSimilarity(words[0], "name"), **_search_ranks())
    # The annotations of _search_ranks (combination, tty_rank, form_rank, usage): django-stubs cannot see names
    # that come from a ** mapping, so the ordering is given as a list it does not check.
    order: list[str] = ["combination", "tty_rank", "form_rank", "-usage", "-rank", "name"]
    return list(ranked.order_by(*order)[:limit])


def _search_ranks() -> dict:
    """The order a prescriber expects: single-ingredient before combinations, generic (SCD) before branded (SBD)
    before packs, oral tablets and capsules before other oral forms before the rest, then what this clinic
    prescribes most often (one correlated count per row, on the prescription's medication index)."""
    usage = (
        Prescription.objects.filter(medication=OuterRef("pk"))
        .order_by()
        .values("medication")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return {
        "combination": Case(When(name__contains=" / ", then=1), default=0, output_field=IntegerField()),
        "tty_rank": Case(
            When(tty="SCD", then=0), When(tty="SBD", then=1), default=2, output_field=IntegerField()
        ),
        "form_rank": Case(
            When(dose_form__in=("Oral Tablet", "Oral Capsule"), then=0),
            When(dose_form__icontains="oral", then=1),
            default=2,
            output_field=IntegerField(),
        ),
        "usage": Coalesce(Subquery(usage, output_field=IntegerField()), 0),
    }


def medication_get(*, medication_id) -> Medication:
    try:
        return Medication.objects.get(pk=int(medication_id), is_active=True)
    except (Medication.DoesNotExist, ValueError, TypeError):
        raise Http404("No such medication") from None


def pharmacy_list() -> QuerySet[Pharmacy]:
    return Pharmacy.objects.all()


def pharmacy_search(*, q: str = "", limit: int = 50) -> list[Pharmacy]:
    """The pharmacy directory (not patient data): by NCPDP ID (digits), name or city (every word must match)."""
    q = (q or "").strip()[:100]
    qs = Pharmacy.objects.all()
    if q.isdigit():
        qs = qs.filter(ncpdp_id__startswith=q)
    else:
        for word in q.split()[:5]:
            qs = qs.filter(Q(name__icontains=word) | Q(city__icontains=word))
    return list(qs.order_by("name", "city")[:limit])


def pharmacy_get(*, pharmacy_id) -> Pharmacy:
    try:
        return Pharmacy.objects.get(pk=int(pharmacy_id))
    except (Pharmacy.DoesNotExist, ValueError, TypeError):
        raise Http404("No such pharmacy") from None


def pharmacy_preferred(*, patient) -> Pharmacy | None:
    """The preferred pharmacy of a patient already fetched through patient_get."""
    rows = _PHARMACY_PREFERRED(patient_id=patient.pk)
    return rows[0].pharmacy if rows else None


def pharmacy_by_ncpdp(*, ncpdp_id: str) -> Pharmacy | None:
    return Pharmacy.objects.filter(ncpdp_id=ncpdp_id).first()


def medication_by_rxcui(*, rxcui: str) -> Medication | None:
    return Medication.objects.filter(rxcui=rxcui, is_active=True).first() if rxcui else None


def icd10_get(*, code: str):
    """An ICD-10-CM code of the shipped list (encounters owns the table; read-only here), or None."""
    from encounters.models import Icd10Code

    return Icd10Code.objects.filter(code=code).first()


# ------------------------------------------------------------------ prescribers
def prescriber_spi(*, user) -> str:
    """The SPI a practice admin recorded for this prescriber, or ""."""
    return PrescriberSpi.objects.filter(user=user).values_list("spi", flat=True).first() or ""


def prescriber_for_inbound(*, spi: str, npi: str):
    """The prescriber a pharmacy addressed (header To = SPI, else the body's NPI), or None."""
    from accounts.models import Practitioner

    if spi:
        registered = PrescriberSpi.objects.filter(spi=spi).select_related("user").first()
        if registered is not None:
            return registered.user
        if len(spi) == 13 and spi.endswith("001"):  # the documented stand-in: NPI + "001" (services.spi_for)
            npi = npi or spi[:10]
    practitioner = Practitioner.objects.filter(npi=npi).select_related("user").first() if npi else None
    return practitioner.user if practitioner else None


def patient_match_for_prescriber(*, prescriber, last_name: str, first_name: str, birth_date: str):
    """The one patient of this prescriber (PRESCRIBE) with exactly this name and date of birth, else None.

    For a pharmacy request that names no prescription of ours. Called by the inbound service, which records
    the access (system actor)."""
    if not (last_name and first_name and birth_date):
        return None
    try:
        from datetime import date

        born = date.fromisoformat(birth_date[:10])
    except ValueError:
        return None
    found = list(
        visible_patients(prescriber, roles.PRESCRIBE).filter(
            family_name__iexact=last_name, given_name__iexact=first_name, birth_date=born
        )[:2]
    )
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------ prescriptions
# The chart's cards, compiled once per process (core/prepared.py). The prescriptions card shows the drug, the
# directions, the status and the date: only the medication is joined.
_PRESCRIPTIONS_RECENT = Prepared(
    lambda patient_id: (
        Prescription.objects.filter(patient_id=patient_id)
        .select_related("medication")
        .order_by("-created_at")[:20]
    ),
    patient_id=SENTINEL_ID,
)
_PHARMACY_PREFERRED = Prepared(
    lambda patient_id: PatientPharmacy.objects.filter(patient_id=patient_id).select_related("pharmacy")[:1],
    patient_id=SENTINEL_ID,
)


def prescription_get(
    *, actor, prescription_id, perm: str = roles.VIEW_CLINICAL, request=None, record: bool = True
) -> Prescription:
    """A prescription, if `actor` holds `perm` on its patient (the access is recorded); else Http404."""
    pk = _as_uuid(prescription_id)
    row = Prescription.objects.filter(pk=pk).values_list("patient_id", flat=True).first() if pk else None
    if row is None:
        raise Http404("No prescription found")
    patient = patient_get(
        actor=actor,
        patient_id=row,
        perm=perm,
        category=categories.PRESCRIPTION,
        request=request,
        record=record,
    )
    rx = Prescription.objects.select_related("medication", "pharmacy", "prescriber__practitioner").get(
        pk=cast(uuid.UUID, pk)  # not None: the row above was found by it
    )
    rx.patient = patient
    return rx


# The status fragment an open prescription page polls in the background: its reads are folded into one access
# event per session and patient per POLL_FOLD_SECONDS. A direct request (not a background poll) is always recorded.
POLL_FOLD_SECONDS = 60


def _poll_already_recorded(poll_session: str, patient_id) -> bool:
    """True when this session's background polls of this patient were recorded within POLL_FOLD_SECONDS (and
    marks it so when not). Without the cache nothing is folded: every poll is recorded."""
    digest = hashlib.sha256(f"{poll_session}:{patient_id}".encode()).hexdigest()
    try:
        return not cache.add(f"rx-status-poll:{digest}", 1, timeout=POLL_FOLD_SECONDS)
    except Exception:  # cache down: record
        return False


def prescription_status_get(*, actor, prescription_id, request=None, poll_session: str = "") -> Prescription:
    """A prescription for its status fragment, its read recorded (a background poll, `poll_session` given, is
    recorded once per session and patient per POLL_FOLD_SECONDS)."""
    rx = prescription_get(actor=actor, prescription_id=prescription_id, request=request, record=False)
    if poll_session and _poll_already_recorded(poll_session, rx.patient_id):
        return rx
    access_record(
        actor=actor,
        action=Action.VIEW,
        category=categories.PRESCRIPTION,
        patient_id=rx.patient_id,
        request=request,
        break_glass=rx.patient.access.break_glass,
        detail={"prescription": str(rx.pk), "status_fragment": "poll" if poll_session else "direct"},
    )
    return rx


def prescription_events(*, prescription: Prescription):
    return list(prescription.events.all())


def prescription_by_order_number(*, order_number: str) -> Prescription | None:
    """For the inbound service only (it checks the sending pharmacy and records the access)."""
    return (
        Prescription.objects.filter(prescriber_order_number=order_number)
        .select_related("patient", "prescriber", "pharmacy")
        .first()
    )


def outbound_by_message_id(*, message_id: str) -> OutboundMessage | None:
    """For the inbound service only (it checks the sending pharmacy and records the access)."""
    return (
        OutboundMessage.objects.filter(message_id=message_id)
        .select_related("prescription__patient", "prescription__prescriber")
        .first()
    )


def outbound_patient_id(*, message_id):
    """The patient an outbox row is about (for the caller's permission check), or None."""
    pk = _as_uuid(message_id)
    if pk is None:
        return None
    return (
        OutboundMessage.objects.filter(pk=pk, patient__isnull=False)
        .values_list("patient_id", flat=True)
        .first()
    )


def inbox_item_exists(*, message_id: str) -> bool:
    return InboxItem.objects.filter(message_id=message_id).exists()


def inbound_answer_exists(*, message_id: str) -> bool:
    return InboundAnswer.objects.filter(message_id=message_id).exists()


def attention_list(*, actor, request=None, limit: int = 100) -> list[OutboundMessage]:
    """Messages a human must look at, for the patients whose chart `actor` may open (VIEW_CLINICAL: drug names
    are clinical). Records one access event naming the patients shown."""
    rows = list(
        OutboundMessage.objects.filter(
            status=OutboundStatus.NEEDS_ATTENTION,
            patient__in=visible_patients(actor, roles.VIEW_CLINICAL).values("pk"),
        )
        .select_related("prescription__medication", "prescription__patient", "pharmacy")
        .order_by("-updated_at")[:limit]
    )
    if rows:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.PRESCRIPTION,
            patient_ids=sorted({str(m.patient_id) for m in rows}),
            request=request,
            detail={"list": "needs attention"},
        )
    return rows


def inbox_list(*, actor, request=None, include_closed: bool = False) -> list[InboxItem]:
    """The prescriber's own inbox: requests addressed to them, about patients they may still prescribe for (a
    prescriber who lost access to a patient no longer sees that patient's requests), and requests that name no
    patient of ours. Records one access event naming the patients shown."""
    allowed = visible_patients(actor, roles.PRESCRIBE).values("pk")
    qs = (
        InboxItem.objects.filter(prescriber=actor)
        .filter(Q(patient__isnull=True) | Q(patient__in=allowed))
        .select_related("pharmacy", "patient", "prescription__medication")
    )
    if not include_closed:
        qs = qs.filter(status=InboxStatus.OPEN)
    items = list(qs[:200])
    shown = sorted({str(i.patient_id) for i in items if i.patient_id})
    if shown:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.PRESCRIPTION,
            patient_ids=shown,
            request=request,
            detail={"list": "prescription inbox"},
        )
    return items


def inbox_item_get(*, actor, item_id, request=None, record: bool = True) -> InboxItem:
    """One request addressed to `actor`, if they still hold PRESCRIBE on its patient (the access is recorded);
    else Http404."""
    pk = _as_uuid(item_id)
    item = (
        InboxItem.objects.filter(pk=pk, prescriber=actor)
        .select_related("pharmacy", "prescription__medication", "prescription__pharmacy")
        .first()
        if pk
        else None
    )
    if item is None:
        raise Http404("No such request")
    if item.patient_id:
        item.patient = patient_get(
            actor=actor,
            patient_id=item.patient_id,
            perm=roles.PRESCRIBE,
            category=categories.PRESCRIPTION,
            request=request,
            record=record,
        )
    return item


@dataclass(frozen=True)
class RequestedOption:
    index: int
    description: str
    medication: Medication | None  # None: not in our catalog, cannot be prescribed here
    quantity: str
    quantity_unit: str
    refills: str
    sig_text: str
    refill_limit: int


def inbox_item_options(*, item: InboxItem) -> list[RequestedOption]:
    """The drugs a change request asks for, matched to the catalog by RxNorm code (one query)."""
    if item.kind != InboxKind.CHANGE:
        return []
    requested = item.fields.get("requested") or []
    codes = {o.get("rxnorm_code") for o in requested if o.get("rxnorm_code")}
    meds = {m.rxcui: m for m in Medication.objects.filter(rxcui__in=codes, is_active=True)}
    out = []
    for i, o in enumerate(requested):
        med = meds.get(o.get("rxnorm_code") or "")
        out.append(
            RequestedOption(
                index=i,
                description=o.get("drug_description", ""),
                medication=med,
                quantity=o.get("quantity", ""),
                quantity_unit=o.get("quantity_unit", ""),
                refills=o.get("refills", ""),
                sig_text=o.get("sig_text", ""),
                refill_limit=refill_limit(med.dea_schedule) if med else 0,
            )
        )
    return out


def chart_section(*, actor, patient, request) -> dict | None:
    """The chart's prescriptions card (one query). Shown to users with clinical access. Records nothing itself:
    the chart's own access event (patient_get, "chart summary") covers every card on the page, as for the other
    sections; the prescription pages record their own PRESCRIPTION events."""
    access = getattr(patient, "access", None)
    if access is None or not access.has(roles.VIEW_CLINICAL):
        return None

    return {
        "template": "prescriptions/_chart_prescriptions.html",
        "title": "Prescriptions",
        "main": True,
        "nav_url": "#sec-prescriptions",
        "prescriptions": _PRESCRIPTIONS_RECENT(patient_id=patient.pk),
        "can_prescribe": access.has(roles.PRESCRIBE),
        "prescribe_url": pk_url("prescriptions:new", patient.pk),
    }


def chart_pharmacy(*, actor, patient, request) -> dict | None:
    """The chart's preferred-pharmacy card (one query). Part of the demographics the chart page already recorded;
    anyone who may change demographics can change it."""
    access = getattr(patient, "access", None)
    if access is None or not access.has(roles.VIEW_DEMOGRAPHICS):
        return None

    return {
        "template": "prescriptions/_chart_pharmacy.html",
        "title": "Pharmacy",
        "aside": True,
        "pharmacy": pharmacy_preferred(patient=patient),
        "can_change": access.has(roles.CHANGE_DEMOGRAPHICS),
        "change_url": pk_url("prescriptions:pharmacy_choose", patient.pk),
    }
