"""Open renewal and change requests that arrived before the inbox existed become inbox items (the same items
inbox.sources.pharmacy_request_post makes for new ones; the unique (kind, source_ref) makes a re-run harmless)."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

KINDS = {"renewal": "renewal_request", "change": "change_request"}


def forwards(apps, schema_editor):
    RxRequest = apps.get_model("prescriptions", "InboxItem")
    Item = apps.get_model("inbox", "InboxItem")
    Event = apps.get_model("inbox", "InboxEvent")
    now = timezone.now()
    for req in RxRequest.objects.filter(status="open", kind__in=list(KINDS)).iterator():
        kind = KINDS[req.kind]
        if Item.objects.filter(kind=kind, source_ref=str(req.pk)).exists():
            continue
        item = Item.objects.create(
            kind=kind,
            source_ref=str(req.pk),
            patient_id=req.patient_id,
            assignee_id=req.prescriber_id,
            title=req.summary[:300],
            link_name="prescriptions:inbox_item",
            link_args=[str(req.pk)],
            escalate_at=now + timedelta(days=2),
        )
        Event.objects.create(item=item, patient_id=req.patient_id, kind="posted", to_user_id=req.prescriber_id)


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0001_clinical_inbox"),
        ("prescriptions", "0005_sig_routes_units_solid_oral"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
