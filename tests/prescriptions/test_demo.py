import random

from accounts.models import Practitioner
from prescriptions.models import InboxItem, OutboundMessage, Prescription
from tests.factories import PractitionerFactory, UserFactory, make_patient
from tests.prescriptions.conftest import PRODUCTS, give_address


def test_demo_build(db, front_desk):
    from accounts.roles import Role
    from prescriptions.catalog import catalog_import_products
    from prescriptions.demo import demo_build

    catalog_import_products(products=PRODUCTS, schedules={})  # so the demo does not load the full catalog
    house = PractitionerFactory(user=UserFactory(username="dr.house", roles=[Role.CLINICIAN])).user
    patients = [give_address(make_patient(given_name=f"P{i}")) for i in range(5)]
    demo_build(patients=patients, providers=[house], front_desk=front_desk, rng=random.Random(1))
    assert Prescription.objects.count() == 100
    assert Prescription.objects.filter(status="needs_attention").count() == 1
    assert InboxItem.objects.filter(prescriber=house).count() == 1
    assert not OutboundMessage.objects.filter(status="pending").exists()  # nothing is sent at load time
    assert Practitioner.objects.count() == 1
