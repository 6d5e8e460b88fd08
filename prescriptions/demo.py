"""Demo data for e-prescribing: catalog, pharmacies, preferred pharmacies, ~100 past prescriptions, one
needs-attention message and one renewal request in dr.house's inbox. Nothing is sent while loading."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from audit.models import Action
from audit.services import access_record

from . import ncpdp
from .catalog import catalog_load_reference
from .models import (
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

DEMO_SECRET = "demo-pharmacy-shared-secret"  # the simulator signs its /control/send-* calls with this
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


def demo_build(*, patients, providers, front_desk, rng) -> None:
    if not Medication.objects.exists():
        catalog_load_reference()
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
            inbound_secret=DEMO_SECRET,
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
    meds = list(Medication.objects.filter(name__in=COMMON, is_active=True)) or list(
        Medication.objects.filter(is_active=True, dea_schedule="")[:10]
    )
    PatientPharmacy.objects.bulk_create(
        [PatientPharmacy(patient=p, pharmacy=sim if i % 5 else fax) for i, p in enumerate(patients)],
        ignore_conflicts=True,
    )
    now = timezone.now()
    rows, events, outbox = [], [], []
    for n in range(100):
        idx = rng.randrange(len(patients))
        patient, prescriber = patients[idx], providers[idx % len(providers)]
        med = rng.choice(meds)
        pharmacy = sim if idx % 5 else fax
        written = now - timedelta(days=rng.randint(1, 400))
        status = RxStatus.DELIVERED if pharmacy.is_electronic else RxStatus.SIGNED
        if n == 5:
            status = RxStatus.NEEDS_ATTENTION
        rx = Prescription(
            patient=patient,
            prescriber=prescriber,
            medication=med,
            dose=Decimal(1),
            dose_unit="tablet",
            route="PO",
            frequency=rng.choice(["QD", "BID"]),
            duration_days=30,
            quantity=Decimal(30),
            quantity_unit="C48542",
            days_supply=30,
            refills=rng.randint(0, 5),
            pharmacy=pharmacy,
            status=status,
            signed_at=written,
        )
        rx.prescriber_order_number = rx.id.hex
        rx.sig_text = sig_render(
            dose=rx.dose, dose_unit=rx.dose_unit, route=rx.route, frequency=rx.frequency, duration_days=30
        )
        if status == RxStatus.NEEDS_ATTENTION:
            rx.status_reason = "NewRx: Error 900 patient address not on file (demo)"
        rows.append(rx)
        events += [PrescriptionEvent(prescription=rx, status=RxStatus.SIGNED, detail="signed (demo history)")]
        if pharmacy.is_electronic:
            events.append(PrescriptionEvent(prescription=rx, status=status, detail="demo history"))
            outbox.append(
                OutboundMessage(
                    prescription=rx,
                    message_type=ncpdp.NEW_RX,
                    message_id=ncpdp.new_message_id(),
                    payload=b"",
                    endpoint=pharmacy.endpoint,
                    attempts=1,
                    last_error=rx.status_reason,
                    status=OutboundStatus.NEEDS_ATTENTION
                    if status == RxStatus.NEEDS_ATTENTION
                    else OutboundStatus.ACKNOWLEDGED,
                )
            )
    Prescription.objects.bulk_create(rows)
    PrescriptionEvent.objects.bulk_create(events)
    OutboundMessage.objects.bulk_create(outbox)
    house = next((u for u in providers if u.get_username() == "dr.house"), providers[0])
    target = next((rx for rx in rows if rx.prescriber_id == house.pk and rx.pharmacy_id == sim.pk), None)
    if target is not None:
        from dataclasses import replace

        from . import services

        message_id = ncpdp.new_message_id()
        header = ncpdp.MessageHeader(
            to_id=house.practitioner.npi,
            to_qualifier=ncpdp.QUALIFIER_PRESCRIBER,
            from_id=sim.ncpdp_id,
            from_qualifier=ncpdp.QUALIFIER_PHARMACY,
            message_id=message_id,
            prescriber_order_number=target.prescriber_order_number,
        )
        dispensed = replace(services._medication_data(target), refills=3)
        payload = ncpdp.build_rx_renewal_request(
            ncpdp.RxRenewalRequestData(
                header=header,
                patient=services._patient_data(target.patient),
                pharmacy=services._pharmacy_data(sim),
                prescriber=services._prescriber_data(house),
                dispensed=dispensed,
            )
        )
        InboxItem.objects.create(
            kind=InboxKind.RENEWAL,
            message_id=message_id,
            pharmacy=sim,
            prescriber=house,
            patient=target.patient,
            prescription=target,
            payload=payload,
            summary=f"Renewal request: {target.medication.name} (3 refills asked)",
            fields={"refills": "3"},
        )
    access_record(
        actor=None,
        action=Action.CREATE,
        category="prescription",
        channel="command",
        patient_ids=sorted({rx.patient_id for rx in rows}, key=str),
        detail={"demo_prescriptions": len(rows)},
    )
