"""The last step of an import: every resource of the bundle keeps its JSON as received.

Resources that became rows of ours keep it on their ImportedRecord (with the id they are served under and a digest
of the row as imported); the others become KeptResource rows. The references of each are resolved to what serves
the referenced resource here. A constant number of queries per bundle (one per table touched).
"""

from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.utils import timezone

from . import mapping
from .fidelity import row_digest
from .models import ImportedRecord, KeptResource

NOT_SERVED = {"auth.user"}  # clinicians of the sending system: inactive users, not served as Practitioner yet
RECORD_FIELDS = [
    "target_model",
    "target_id",
    "patient",
    "resource",
    "refs",
    "served_id",
    "row_digest",
    "imported_at",
]


def kept_prepare(w) -> None:
    """A KeptResource for every kept resource (existing ones found in one query); their served ids known."""
    parsed = w.parsed
    if not parsed.kept:
        return
    existing = {
        (k.resource_type, k.source_id, k.patient_id): k
        for k in KeptResource.objects.filter(
            source=w.source, source_id__in={k.source_id for k in parsed.kept}
        )
    }
    now = timezone.now()
    for k in parsed.kept:
        patient_id = w.patient_of.get(k.patient_key) if k.patient_key else None
        obj = existing.get((k.resource_type, k.source_id, patient_id))
        new = obj is None
        if new:
            obj = KeptResource(
                source=w.source, resource_type=k.resource_type, source_id=k.source_id, patient_id=patient_id
            )
        obj.resource, obj.received_at = parsed.refs.resources[k.key], now
        w.kept.append((k, obj, new))
        w.served[k.key] = f"{k.resource_type}/{obj.pk}"
        (w.result.created if new else w.result.updated)["kept " + k.resource_type] += 1


def _served_id(row, rec: ImportedRecord) -> str:
    if rec.target_model == "encounters.vitalsigns":
        suffix = {**mapping.VITAL_CODE_SUFFIX, "55284-4": "bp"}.get(row.fields["loinc_code"], "x")
        return f"{rec.target_id}-{suffix}"
    return rec.target_id


def records_finish(w) -> None:
    """Resource as received, references, served id and row digest on every ImportedRecord; then write them and
    the kept resources."""
    parsed = w.parsed
    records = []
    for rows in parsed.rows.values():
        for row in rows:
            rec = w.links.get((row.resource_type, row.source_id))
            if rec is None or rec.target_model in NOT_SERVED:
                continue
            rec.served_id = _served_id(row, rec)
            w.served[row.key] = f"{row.resource_type}/{rec.served_id}"
            records.append((row, rec))
    for row, rec in records:
        rec.resource = parsed.refs.resources[row.key]
        rec.refs = parsed.refs.served(rec.resource, w.served)
    _digests([rec for _, rec in records], w.written)
    ImportedRecord.objects.bulk_create(w.new_links, batch_size=1000)
    new_ids = {id(r) for r in w.new_links}
    old = [rec for _, rec in records if id(rec) not in new_ids and rec.pk]
    if old:
        now = timezone.now()
        for rec in old:
            rec.imported_at = now
        ImportedRecord.objects.bulk_update(old, fields=RECORD_FIELDS, batch_size=500)
    for _, obj, _new in w.kept:
        obj.refs = parsed.refs.served(obj.resource, w.served)
    KeptResource.objects.bulk_create([obj for _, obj, new in w.kept if new], batch_size=1000)
    changed = [obj for _, obj, new in w.kept if not new]
    if changed:
        KeptResource.objects.bulk_update(changed, fields=["resource", "refs", "received_at"], batch_size=500)


def _digests(recs: list[ImportedRecord], written: dict) -> None:
    """The digest of each row as imported: from the object just inserted (whole in memory), else read back (rows
    an earlier import made, updated column by column here): one query per table then."""
    by_model = defaultdict(list)
    for rec in recs:
        obj = written.get((rec.target_model, rec.target_id))
        if obj is not None:
            rec.row_digest = row_digest(obj)
        else:
            by_model[rec.target_model].append(rec)
    for label, group in by_model.items():
        model = apps.get_model(label)
        pk = model._meta.pk
        rows = {
            str(r.pk): r for r in model.objects.filter(pk__in=[pk.to_python(rec.target_id) for rec in group])
        }
        for rec in group:
            row = rows.get(rec.target_id)
            rec.row_digest = row_digest(row) if row is not None else ""
