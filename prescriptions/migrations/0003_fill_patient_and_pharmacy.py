# The data step of 0002_directory_answers_nonces_refill_limits, in a migration of its own: PostgreSQL refuses to build the indexes Django defers to
# the end of a migration while the UPDATEs here still have deferred foreign-key checks pending in the same transaction.
from django.db import migrations


def fill_patient_and_pharmacy(apps, schema_editor):
    """Existing timeline events and outbox rows get the patient (and addressee) of their prescription."""
    PrescriptionEvent = apps.get_model("prescriptions", "PrescriptionEvent")
    OutboundMessage = apps.get_model("prescriptions", "OutboundMessage")
    Prescription = apps.get_model("prescriptions", "Prescription")
    InboxItem = apps.get_model("prescriptions", "InboxItem")
    from django.db.models import OuterRef, Subquery

    rx = Prescription.objects.filter(pk=OuterRef("prescription_id"))
    PrescriptionEvent.objects.filter(patient__isnull=True).update(patient_id=Subquery(rx.values("patient_id")[:1]))
    OutboundMessage.objects.filter(patient__isnull=True, prescription__isnull=False).update(
        patient_id=Subquery(rx.values("patient_id")[:1])
    )
    item = InboxItem.objects.filter(pk=OuterRef("inbox_item_id"))
    OutboundMessage.objects.filter(pharmacy__isnull=True, inbox_item__isnull=False).update(
        pharmacy_id=Subquery(item.values("pharmacy_id")[:1])
    )
    OutboundMessage.objects.filter(pharmacy__isnull=True, prescription__isnull=False).update(
        pharmacy_id=Subquery(rx.values("pharmacy_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [("prescriptions", "0002_directory_answers_nonces_refill_limits")]

    operations = [migrations.RunPython(fill_patient_and_pharmacy, migrations.RunPython.noop)]
