"""Demo data for e-prescribing, showing the whole pipeline without sending anything while loading:

- the catalog, an electronic pharmacy (the simulator) and a fax-only one, every patient's preferred pharmacy;
- ~100 past prescriptions, delivered, each with its timeline (written, signed, queued, delivered);
- one needing attention (the pharmacy refused it, the reason on the timeline and in the attention queue);
- a cancelled one (CancelRx approved by the pharmacy), a controlled substance (Schedule II, no refills, signed
  with TOTP), and a printable one for the fax-only pharmacy;
- in dr.house's inbox: a renewal request and a change request offering two drugs of the catalog.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import Action
from audit.services import access_record

from . import ncpdp, ncpdp_build, ncpdp_parse
from .catalog import catalog_load_reference
from .models import (
    DEA_SCHEDULE_CODES,
    InboxItem,
    InboxKind,
    Medication,
    OutboundMessage,
    OutboundStatus,
    PatientPharmacy,
    Pharmacy,
    Prescription,
    PrescriptionEvent,
    RxStatus,
)
from .services import sig_render

COMMON = [
    "Lisinopril 10 MG Oral Tablet",
    "Atorvastatin 20 MG Oral Tablet",
    "Metformin hydrochloride 500 MG Oral Tablet",
    "Amlodipine 5 MG Oral Tablet",
    "Sertraline 50 MG Oral Tablet",
    "Omeprazole 20 MG Delayed Release Oral Capsule",
    "Levothyroxine Sodium 0.05 MG Oral Tablet",
    "Warfarin Sodium 5 MG Oral Tablet",
    "Amoxicillin 500 MG Oral Capsule",
]
HISTORY = 100


def _pharmacies() -> tuple[Pharmacy, Pharmacy]:
    sim = Pharmacy.objects.update_or_create(
        ncpdp_id="1234567",
        defaults=dict(
            npi="1234567893",
            name="Simulated Pharmacy",
            address_line="1 Main St",
            city="Springfield",
            state="IL",
            postal_code="62701",
            phone="2175550100",
            accepts=["NewRx", "CancelRx", "RxRenewalResponse", "RxChangeResponse"],
            endpoint=settings.PHARMACY_SIMULATOR_URL + "/ncpdp",
            # Generated at load (never a constant in the source): the dev stack rotates it at every start and
            # hands it to the simulator (manage.py pharmacy_secret_rotate).
            inbound_secret=secrets.token_urlsafe(32),
            is_electronic=True,
        ),
    )[0]
    fax = Pharmacy.objects.update_or_create(
        ncpdp_id="7654321",
        defaults=dict(
            name="Corner Drugstore (fax only)",
            address_line="9 Oak Ave",
            city="Springfield",
            state="IL",
            postal_code="62702",
            phone="2175550111",
            fax="2175550112",
            is_electronic=False,
        ),
    )[0]
    return sim, fax


def _rx(*, patient, prescriber, med, pharmacy, status, written, rng, refills=None, reason="") -> Prescription:
    rx = Prescription(
        patient=patient,
        prescriber=prescriber,
        medication=med,
        dea_schedule=med.dea_schedule,
        dose=Decimal(1),
        dose_unit="tablet",
        route="PO",
        frequency=rng.choice(["QD", "BID"]),
        duration_days=30,
        quantity=Decimal(30),
        quantity_unit="C48542",
        days_supply=30,
        refills=rng.randint(0, 5) if refills is None else refills,
        pharmacy=pharmacy,
        status=status,
        status_reason=reason,
        signed_at=written,
    )
    rx.prescriber_order_number = rx.id.hex
    rx.sig_text = sig_render(
        dose=rx.dose, dose_unit=rx.dose_unit, route=rx.route, frequency=rx.frequency, duration_days=30
    )
    return rx


def _timeline(rx: Prescription, steps: list[tuple[str, str]]) -> list[PrescriptionEvent]:
    return [PrescriptionEvent(prescription=rx, patient=rx.patient, status=s, detail=d) for s, d in steps]


def _message(rx, mtype, status, *, answer="", error="", relates_to="") -> OutboundMessage:
    return OutboundMessage(
        prescription=rx,
        patient=rx.patient,
        pharmacy=rx.pharmacy,
        message_type=mtype,
        message_id=ncpdp.new_message_id(),
        payload=b"",
        endpoint=rx.pharmacy.endpoint,
        attempts=1,
        status=status,
        last_answer=answer,
        last_error=error,
    )


def demo_build(*, patients, providers, front_desk, rng) -> None:
    if not Medication.objects.exists():
        catalog_load_reference()
    sim, fax = _pharmacies()
    meds = list(Medication.objects.filter(name__in=COMMON, is_active=True)) or list(
        Medication.objects.filter(is_active=True, dea_schedule="").exclude(tty__startswith="IN")[:10]
    )
    PatientPharmacy.objects.bulk_create(
        [PatientPharmacy(patient=p, pharmacy=sim if i % 5 else fax) for i, p in enumerate(patients)],
        ignore_conflicts=True,
    )
    house = next((u for u in providers if u.get_username() == "dr.house"), providers[0])
    now = timezone.now()
    rows, events, outbox = [], [], []

    # History: delivered (electronic) and printed (fax-only) prescriptions, each with its timeline.
    for _ in range(HISTORY):
        idx = rng.randrange(len(patients))
        pharmacy = sim if idx % 5 else fax
        rx = _rx(
            patient=patients[idx],
            prescriber=providers[idx % len(providers)],
            med=rng.choice(meds),
            pharmacy=pharmacy,
            status=RxStatus.DELIVERED if pharmacy.is_electronic else RxStatus.PRINTED,
            written=now - timedelta(days=rng.randint(2, 400)),
            rng=rng,
        )
        rows.append(rx)
        steps = [(RxStatus.DRAFT, "written"), (RxStatus.SIGNED, "signed with re-authentication")]
        if pharmacy.is_electronic:
            msg = _message(rx, ncpdp.NEW_RX, OutboundStatus.ACKNOWLEDGED, answer="Status 010")
            outbox.append(msg)
            steps += [
                (RxStatus.QUEUED, f"NewRx {msg.message_id} to {sim.name}"),
                (RxStatus.DELIVERED, "NewRx Status 010"),
            ]
        else:
            steps += [(RxStatus.PRINTED, "printed for the fax-only pharmacy")]
        events += _timeline(rx, steps)

    # The showcase, on dr.house's patients.
    mine = [p for i, p in enumerate(patients) if providers[i % len(providers)] == house] or patients
    first, second, third = mine[0], mine[min(1, len(mine) - 1)], mine[min(2, len(mine) - 1)]
    recent = now - timedelta(days=1)

    refused = _rx(
        patient=first,
        prescriber=house,
        med=meds[0],
        pharmacy=sim,
        status=RxStatus.NEEDS_ATTENTION,
        written=recent,
        rng=rng,
        reason="NewRx: Error 900 patient address does not match the pharmacy's records (demo)",
    )
    outbox.append(
        _message(
            refused,
            ncpdp.NEW_RX,
            OutboundStatus.NEEDS_ATTENTION,
            answer="Error 900",
            error="Error 900 patient address does not match the pharmacy's records (demo)",
        )
    )
    events += _timeline(
        refused,
        [
            (RxStatus.DRAFT, "written"),
            (RxStatus.SIGNED, "signed with re-authentication"),
            (RxStatus.QUEUED, "NewRx to Simulated Pharmacy"),
            (RxStatus.QUEUED, "NewRx attempt 1 of 10 failed: HTTP 503; will retry"),
            (RxStatus.NEEDS_ATTENTION, refused.status_reason),
        ],
    )

    cancelled = _rx(
        patient=second,
        prescriber=house,
        med=meds[-1],
        pharmacy=sim,
        status=RxStatus.CANCELLED,
        written=recent,
        rng=rng,
    )
    new_rx = _message(cancelled, ncpdp.NEW_RX, OutboundStatus.ACKNOWLEDGED, answer="Status 010")
    cancel_rx = _message(cancelled, ncpdp.CANCEL_RX, OutboundStatus.ACKNOWLEDGED, answer="Status 010")
    outbox += [new_rx, cancel_rx]
    events += _timeline(
        cancelled,
        [
            (RxStatus.DRAFT, "written"),
            (RxStatus.SIGNED, "signed with re-authentication"),
            (RxStatus.QUEUED, f"NewRx {new_rx.message_id} to Simulated Pharmacy"),
            (RxStatus.DELIVERED, "NewRx Status 010"),
            (RxStatus.CANCEL_REQUESTED, f"CancelRx {cancel_rx.message_id}"),
            (
                RxStatus.CANCEL_REQUESTED,
                "CancelRx accepted (Status 010); waiting for the pharmacy's CancelRxResponse",
            ),
            (RxStatus.CANCELLED, "pharmacy approved the cancel"),
        ],
    )

    showcase = [refused, cancelled]
    controlled_med = Medication.objects.filter(dea_schedule="II", is_active=True).order_by("name").first()
    if controlled_med is not None:
        controlled = _rx(
            patient=third,
            prescriber=house,
            med=controlled_med,
            pharmacy=sim,
            status=RxStatus.DELIVERED,
            written=recent,
            rng=rng,
            refills=0,
        )
        msg = _message(controlled, ncpdp.NEW_RX, OutboundStatus.ACKNOWLEDGED, answer="Verify 010")
        outbox.append(msg)
        events += _timeline(
            controlled,
            [
                (RxStatus.DRAFT, "written"),
                (RxStatus.SIGNED, "signed with re-authentication + TOTP"),
                (RxStatus.QUEUED, f"NewRx {msg.message_id} to Simulated Pharmacy"),
                (RxStatus.SENT, "NewRx Status 000"),
                (RxStatus.DELIVERED, "NewRx asynchronous Verify 010"),
            ],
        )
        showcase.append(controlled)

    printable = _rx(
        patient=first,
        prescriber=house,
        med=meds[min(1, len(meds) - 1)],
        pharmacy=fax,
        status=RxStatus.SIGNED,
        written=recent,
        rng=rng,
    )
    events += _timeline(
        printable,
        [
            (RxStatus.DRAFT, "written"),
            (
                RxStatus.SIGNED,
                "signed with re-authentication; Corner Drugstore is not electronic: print or fax",
            ),
        ],
    )
    showcase.append(printable)

    # Delivered to the simulator, by dr.house: the pharmacy asks to renew one and to change another.
    to_renew = _rx(
        patient=second,
        prescriber=house,
        med=meds[0],
        pharmacy=sim,
        status=RxStatus.DELIVERED,
        written=now - timedelta(days=80),
        rng=rng,
        refills=1,
    )
    to_change = _rx(
        patient=third,
        prescriber=house,
        med=meds[min(2, len(meds) - 1)],
        pharmacy=sim,
        status=RxStatus.DELIVERED,
        written=now - timedelta(days=3),
        rng=rng,
        refills=2,
    )
    for rx in (to_renew, to_change):
        msg = _message(rx, ncpdp.NEW_RX, OutboundStatus.ACKNOWLEDGED, answer="Status 010")
        outbox.append(msg)
        events += _timeline(
            rx,
            [
                (RxStatus.DRAFT, "written"),
                (RxStatus.SIGNED, "signed with re-authentication"),
                (RxStatus.QUEUED, f"NewRx {msg.message_id} to Simulated Pharmacy"),
                (RxStatus.DELIVERED, "NewRx Status 010"),
            ],
        )
        showcase.append(rx)

    rows += showcase
    Prescription.objects.bulk_create(rows)
    PrescriptionEvent.objects.bulk_create(events)
    OutboundMessage.objects.bulk_create(outbox)
    _spread_timelines(ids=[rx.pk for rx in rows])
    _inbox(house=house, sim=sim, to_renew=to_renew, to_change=to_change, options=meds)
    access_record(
        actor=None,
        action=Action.CREATE,
        category="prescription",
        channel="command",
        patient_ids=sorted({rx.patient_id for rx in rows}, key=str),
        detail={"demo_prescriptions": len(rows)},
    )


def _spread_timelines(*, ids) -> None:
    """bulk_create stamps rows "now" (auto_now_add): date each prescription at its signing and space its timeline
    out from there. (Demo data only; recorded by demo_build's access event.)"""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE prescriptions_prescription SET created_at = signed_at WHERE id = ANY(%s::uuid[])",
            [[str(i) for i in ids]],
        )
        cur.execute(
            """
            UPDATE prescriptions_prescriptionevent e
               SET at = p.signed_at + make_interval(secs => 40 * n.pos)
              FROM (SELECT id, row_number() OVER (PARTITION BY prescription_id ORDER BY id) - 1 AS pos
                      FROM prescriptions_prescriptionevent WHERE prescription_id = ANY(%s::uuid[])) n,
                   prescriptions_prescription p
             WHERE n.id = e.id AND p.id = e.prescription_id
            """,
            [[str(i) for i in ids]],
        )


def _inbox(*, house, sim, to_renew, to_change, options) -> None:
    """A renewal request and a change request as the simulator would send them (payloads the services parse)."""
    from dataclasses import replace

    from . import mapping

    def header(rx):
        return ncpdp.MessageHeader(
            to_id=mapping.spi_for(house),
            to_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
            from_id=sim.ncpdp_id,
            from_qualifier=ncpdp.QUALIFIER_PHARMACY,
            message_id=ncpdp.new_message_id(),
            relates_to_message_id=OutboundMessage.objects.filter(prescription=rx)
            .values_list("message_id", flat=True)
            .first()
            or "",
            prescriber_order_number=rx.prescriber_order_number,
        )

    def parties(rx):
        return dict(
            patient=mapping.patient_data(rx.patient),
            pharmacy=mapping.pharmacy_data(sim),
            prescriber=mapping.prescriber_data(house),
        )

    renewal_header = header(to_renew)
    payload = ncpdp_build.build_rx_renewal_request(
        ncpdp.RxRenewalRequestData(
            header=renewal_header,
            dispensed=replace(
                mapping.medication_data(to_renew), refills=3, note="Patient asks for 3 more fills"
            ),
            **parties(to_renew),
        )
    )
    InboxItem.objects.create(
        kind=InboxKind.RENEWAL,
        message_id=renewal_header.message_id,
        pharmacy=sim,
        prescriber=house,
        patient=to_renew.patient,
        prescription=to_renew,
        payload=payload,
        summary=f"Renewal request: {to_renew.medication.name} (3 refills asked)",
        fields=ncpdp_parse.parse_message(payload).fields,
    )
    alternatives = [m for m in options if m.pk != to_change.medication_id][:2]
    requested = tuple(
        replace(
            mapping.medication_data(to_change),
            description=m.name[:105],
            rxnorm_code=m.rxcui,
            dea_schedule=DEA_SCHEDULE_CODES.get(m.dea_schedule, ""),
        )
        for m in alternatives
    )
    change_header = header(to_change)
    payload = ncpdp_build.build_rx_change_request(
        ncpdp.RxChangeRequestData(
            header=change_header,
            request_code="T",
            prescribed=mapping.medication_data(to_change),
            requested=requested,
            **parties(to_change),
        )
    )
    InboxItem.objects.create(
        kind=InboxKind.CHANGE,
        message_id=change_header.message_id,
        pharmacy=sim,
        prescriber=house,
        patient=to_change.patient,
        prescription=to_change,
        payload=payload,
        summary=f"Change request (Therapeutic interchange): {len(requested)} option(s) for "
        f"{to_change.medication.name}",
        fields=ncpdp_parse.parse_message(payload).fields,
    )
