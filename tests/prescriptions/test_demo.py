import random

from accounts.models import Practitioner
from prescriptions import ncpdp_parse, selectors
from prescriptions.models import InboxItem, OutboundMessage, Prescription, PrescriptionEvent
from tests.factories import PractitionerFactory, UserFactory, make_patient
from tests.prescriptions.conftest import PRODUCTS, give_address


def test_demo_build_shows_the_whole_pipeline(db, front_desk):
    from accounts.roles import Role
    from prescriptions.catalog import catalog_import_products
    from prescriptions.demo import HISTORY, demo_build

    # The tiny catalog (so the demo does not load the full one), with oxycodone as Schedule II.
    catalog_import_products(products=PRODUCTS, schedules={"1049621": "II"})
    house = PractitionerFactory(user=UserFactory(username="dr.house", roles=[Role.CLINICIAN])).user
    patients = [give_address(make_patient(given_name=f"P{i}")) for i in range(5)]
    demo_build(patients=patients, providers=[house], front_desk=front_desk, rng=random.Random(1))

    statuses = list(Prescription.objects.values_list("status", flat=True))
    assert len(statuses) == HISTORY + 6
    for status in ("delivered", "needs_attention", "cancelled", "signed", "printed"):
        assert status in statuses, status
    assert Prescription.objects.filter(dea_schedule="II", refills=0, status="delivered").exists()
    printable = Prescription.objects.get(status="signed")
    assert not printable.pharmacy.is_electronic
    # Timelines: every prescription has one, in order, dated from its signing.
    delivered = Prescription.objects.filter(status="delivered").first()
    timeline = list(PrescriptionEvent.objects.filter(prescription=delivered))
    assert [e.status for e in timeline][-1] == "delivered" and len(timeline) >= 4
    assert timeline[0].at >= delivered.signed_at and all(
        e.patient_id == delivered.patient_id for e in timeline
    )
    assert not PrescriptionEvent.objects.filter(patient__isnull=True).exists()
    # One message needs attention, nothing is waiting to be sent at load time.
    assert OutboundMessage.objects.filter(status="needs_attention").count() == 1
    assert not OutboundMessage.objects.filter(status="pending").exists()
    # dr.house's inbox: a renewal and a change request whose options are in the catalog.
    kinds = sorted(InboxItem.objects.filter(prescriber=house, status="open").values_list("kind", flat=True))
    assert kinds == ["change", "renewal"]
    change = InboxItem.objects.get(kind="change")
    options = selectors.inbox_item_options(item=change)
    assert options and all(o.medication is not None for o in options)
    assert ncpdp_parse.parse_message(bytes(change.payload)).message_type == "RxChangeRequest"
    assert Practitioner.objects.count() == 1
