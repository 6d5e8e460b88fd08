"""Writes of the FHIR app: importing bundles.

`bundle_import` is the one door for imported data. It is a system operation: the actor needs the model permission
`fhirapi.import_bundle` (given to the import service account, never to a clinical role), not object permissions —
an import creates charts nobody has access to yet. Each bundle is written in one transaction with bulk writes,
and records one audit event naming its patients, with what was created, updated and left behind.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import categories
from audit.models import Action
from audit.services import access_record

from . import given, keeping
from .importing import BundleRefused, ParsedBundle, Row, parse_bundle
from .models import ImportedRecord

IMPORT_PERMISSION = "fhirapi.import_bundle"
IMPORT_ACCOUNT = "system.fhir-import"
UNKNOWN_PROVIDER = "ext.unknown-provider"


@dataclass
class BundleResult:
    patient_ids: list[uuid.UUID] = field(default_factory=list)
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    not_modelled: Counter = field(default_factory=Counter)
    dropped_elements: Counter = field(default_factory=Counter)
    resources: int = 0  # every resource of the bundle that is stored (mapped or kept as received)
    issues: list = field(
        default_factory=list
    )  # OperationOutcome.issue entries, one or more per troubled entry

    def outcome(self) -> dict:
        """The import's OperationOutcome (an informational issue when nothing went wrong)."""
        issues = self.issues or [
            {"severity": "information", "code": "informational", "diagnostics": "imported"}
        ]
        return {"resourceType": "OperationOutcome", "issue": issues}


def import_account():
    """The service account imports run as when no user is named: it can hold permissions but never sign in."""
    from django.contrib.auth.models import Permission

    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=IMPORT_ACCOUNT, defaults={"first_name": "FHIR", "last_name": "import (system)"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    perm = Permission.objects.get(content_type__app_label="fhirapi", codename="import_bundle")
    user.user_permissions.add(perm)
    return User.objects.get(pk=user.pk)  # fresh: the permission cache must see the grant


class _Writer:
    """The state of one bundle's import: links already known, rows written so far (bundle key -> our pk)."""

    def __init__(self, *, actor, source: str, parsed: ParsedBundle, department, care_team):
        self.actor, self.source, self.parsed = actor, source, parsed
        self.department, self.care_team = department, care_team
        self.local: dict[str, object] = {}  # bundle key -> our pk
        self.patient_of: dict[str, uuid.UUID] = {}  # bundle patient key -> our patient id
        self.links: dict[tuple[str, str], ImportedRecord] = {}
        self.new_links: list[ImportedRecord] = []
        self.served: dict[str, str] = {}  # bundle key -> "Type/id" that serves it here
        self.kept: list = []  # (Kept, KeptResource, new)
        self.written: dict[
            tuple[str, str], object
        ] = {}  # (model label, pk) -> object inserted whole (digests)
        self.result = BundleResult(
            not_modelled=parsed.not_modelled,
            dropped_elements=parsed.dropped_elements,
            resources=parsed.count(),
            issues=parsed.issues,
        )

    def load_links(self) -> None:
        """Every link an earlier import left for this bundle's resources, in one query."""
        wanted = {(row.resource_type, row.source_id) for rows in self.parsed.rows.values() for row in rows}
        if not wanted:
            return
        ids = {source_id for _, source_id in wanted}
        for rec in ImportedRecord.objects.filter(source=self.source, source_id__in=ids):
            if (rec.resource_type, rec.source_id) in wanted:
                self.links[(rec.resource_type, rec.source_id)] = rec

    def target(self, row: Row, model) -> str | None:
        rec = self.links.get((row.resource_type, row.source_id))
        if rec is None or rec.target_model != model._meta.label_lower:
            return None
        return rec.target_id

    def link(self, row: Row, model, pk, patient_id) -> None:
        rec = self.links.get((row.resource_type, row.source_id))
        if rec is not None:
            if (rec.target_model, rec.target_id, rec.patient_id) != (
                model._meta.label_lower,
                str(pk),
                patient_id,
            ):
                rec.target_model, rec.target_id, rec.patient_id = model._meta.label_lower, str(pk), patient_id
            return  # written with the others by keeping.records_finish
        rec = ImportedRecord(
            source=self.source,
            resource_type=row.resource_type,
            source_id=row.source_id,
            target_model=model._meta.label_lower,
            target_id=str(pk),
            patient_id=patient_id,
        )
        self.links[(row.resource_type, row.source_id)] = rec
        self.new_links.append(rec)

    def patient_id(self, row: Row) -> uuid.UUID:
        try:
            return self.patient_of[row.patient_key or ""]
        except KeyError:
            raise BundleRefused(
                "its patient is not imported with it", entry=row.entry, resource=row.key
            ) from None

    def patient_of_row(self, row: Row) -> uuid.UUID | None:
        return self.patient_of.get(row.patient_key or "")

    def ref(self, row: Row, name: str):
        key = row.refs.get(name)
        return self.local.get(key) if key else None

    def upsert(self, model, rows: list[tuple[Row, dict]], *, kind: str) -> None:
        """Bulk create the new rows and bulk update the ones an earlier import made (found through the links)."""
        if not rows:
            return
        linked = {}
        for row, _values in rows:
            pk = self.target(row, model)
            if pk is not None:
                linked[row.key] = pk
        still_there = set()
        if linked:
            field_pk = model._meta.pk
            ids = [field_pk.to_python(v) for v in linked.values()]
            still_there = {str(pk) for pk in model.objects.filter(pk__in=ids).values_list("pk", flat=True)}
        creates, updates = [], []
        names: set[str] = set()
        for row, values in rows:
            names |= values.keys()
            pk = linked.get(row.key)
            if pk is not None and pk in still_there:
                obj = model(pk=model._meta.pk.to_python(pk), **values)
                updates.append(obj)
            else:
                obj = model(**values)
                creates.append(obj)
                self.written[(model._meta.label_lower, str(obj.pk))] = obj
            self.local[row.key] = obj.pk
            self.link(row, model, obj.pk, values.get("patient_id"))
        model.objects.bulk_create(creates, batch_size=1000)
        if updates:
            # bulk_update skips auto_now: a re-imported row's last-change time (`_lastUpdated`) is set here.
            stamped = [f.name for f in model._meta.concrete_fields if getattr(f, "auto_now", False)]
            now = timezone.now()
            for obj in updates:
                for name in stamped:
                    setattr(obj, name, now)
            model.objects.bulk_update(
                updates,
                fields=sorted(names - {"patient_id", *stamped}) + ["patient_id", *stamped],
                batch_size=500,
            )
        if creates:
            self.result.created[kind] += len(creates)
        if updates:
            self.result.updated[kind] += len(updates)


# ---------------------------------------------------------------- per kind
def _patients(w: _Writer) -> None:
    from patients.models import Patient
    from patients.services import care_team_grant, mrn_next, patient_derive

    for row in w.parsed.rows.get("patient", []):
        pk = w.target(row, Patient)
        found = Patient.objects.filter(pk=pk).first() if pk else None
        created = found is None
        patient = found if found is not None else Patient(department=w.department)
        if created:
            patient.mrn = mrn_next()
        for name, value in row.fields.items():
            setattr(patient, name, value)
        patient_derive(patient)
        try:
            # Field rules here (lengths, choices, dates); the table's check constraints are the database's to
            # enforce (an IntegrityError refuses the bundle), not one query each.
            patient.full_clean(
                exclude=["mrn", "department"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:  # say which field, refuse the bundle
            raise BundleRefused(_validation_text(exc), entry=row.entry, resource=row.key) from None
        if created:  # a new chart has none of its one-to-one rows yet: the audit diff need not look them up
            for rel in Patient._meta.related_objects:
                if rel.one_to_one:
                    rel.set_cached_value(patient, None)
        patient.save(force_insert=created)
        if created:
            w.written[("patients.patient", str(patient.pk))] = patient
        if created:
            for user in w.care_team:
                care_team_grant(patient=patient, user=user, care_role="Imported chart", added_by=w.actor)
        (w.result.created if created else w.result.updated)["patient"] += 1
        w.local[row.key] = patient.pk
        w.patient_of[row.key] = patient.pk
        w.result.patient_ids.append(patient.pk)
        w.link(row, Patient, patient.pk, patient.pk)


def _validation_text(exc) -> str:
    messages = getattr(exc, "message_dict", None)
    if messages:
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items())
    return str(exc)


def _practitioners(w: _Writer) -> None:
    """Clinicians of the sending system become inactive user records (they never sign in here), or our own
    practitioner when the NPI is one of ours."""
    from accounts.models import ExternalClinician, Practitioner

    User = get_user_model()
    rows = w.parsed.rows.get("practitioner", [])
    ours = {
        p.npi: p.user_id
        for p in Practitioner.objects.filter(npi__in=[r.fields["npi"] for r in rows if r.fields["npi"]])
    }
    linked = {row.key: w.target(row, User) for row in rows}
    existing = (
        {
            str(pk)
            for pk in User.objects.filter(pk__in=[int(v) for v in linked.values() if v]).values_list(
                "pk", flat=True
            )
        }
        if any(linked.values())
        else set()
    )
    for row in rows:
        f = row.fields
        user_id: Any = ours.get(f["npi"]) or (linked[row.key] if str(linked[row.key]) in existing else None)
        if user_id is None:
            user = User.objects.create(
                username=f"ext.{uuid.uuid5(uuid.NAMESPACE_URL, w.source + row.key).hex[:20]}",
                first_name=f["first_name"],
                last_name=f["last_name"],
                is_active=False,
                password=make_password(None),  # unusable: never signs in
            )
            ExternalClinician.objects.create(user=user, source=w.source[:100])
            user_id = user.pk
            w.result.created["practitioner"] += 1
        w.local[row.key] = int(user_id)
        w.link(row, User, user_id, None)


def _unknown_provider():
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=UNKNOWN_PROVIDER,
        defaults={"first_name": "Unknown", "last_name": "external provider", "is_active": False},
    )
    if created:
        from accounts.models import ExternalClinician

        user.set_unusable_password()
        user.save(update_fields=["password"])
        ExternalClinician.objects.get_or_create(user=user, defaults={"source": "FHIR import"})
    return user.pk


def _encounters(w: _Writer) -> None:
    from encounters.models import Encounter

    rows = []
    fallback = None
    for row in w.parsed.rows.get("encounter", []):
        provider = w.ref(row, "provider")
        if provider is None:
            fallback = fallback or _unknown_provider()
            provider = fallback
        rows.append((row, {**row.fields, "patient_id": w.patient_id(row), "provider_id": provider}))
    w.upsert(Encounter, rows, kind="encounter")


def _problems(w: _Writer) -> None:
    from encounters.models import Icd10Code, Problem

    rows = w.parsed.rows.get("problem", [])
    icd = {r.fields["icd10"] for r in rows if r.fields["icd10"]}
    known = set(Icd10Code.objects.filter(code__in=icd).values_list("code", flat=True)) if icd else set()
    out = []
    for row in rows:
        f = dict(row.fields)
        f.pop("recorded_at")  # set after the insert (_recorded)
        code = f.pop("icd10")
        if code and code not in known:  # kept as given, in the columns for other codings
            w.parsed.issue(
                row.entry,
                row.key,
                f"ICD-10-CM code {code!r} is not in our code list; kept as given",
                severity="information",
                code="code-invalid",
            )
            code = None
        f["code_id"] = code
        if code:  # the ICD-10-CM code is the coded value; the other columns hold non-ICD codings
            f["code_system"], f["code_value"] = "", ""
        out.append((row, {**f, "patient_id": w.patient_id(row), "encounter_id": w.ref(row, "encounter")}))
    w.upsert(Problem, out, kind="problem")
    _recorded(w, Problem, out)


def _recorded(w: _Writer, model, rows: list[tuple[Row, dict]]) -> None:
    """The source's recorded date (recordedDate) replaces the insert time auto_now_add gave new rows."""
    given = [
        model(pk=w.local[row.key], recorded_at=row.fields["recorded_at"])
        for row, _ in rows
        if row.fields.get("recorded_at")
    ]
    label = model._meta.label_lower
    for obj in given:  # the inserted object too: its digest is taken from it
        if (written := w.written.get((label, str(obj.pk)))) is not None:
            setattr(written, "recorded_at", obj.recorded_at)  # noqa: B010 (any model with recorded_at)
    if given:
        model.objects.bulk_update(given, fields=["recorded_at"], batch_size=500)


def _allergies(w: _Writer) -> None:
    from encounters.models import Allergy

    rows = [
        (
            row,
            {**{k: v for k, v in row.fields.items() if k != "recorded_at"}, "patient_id": w.patient_id(row)},
        )
        for row in w.parsed.rows.get("allergy", [])
    ]
    w.upsert(Allergy, rows, kind="allergy")
    _recorded(w, Allergy, rows)


def _immunizations(w: _Writer) -> None:
    from encounters.models import Immunization

    w.upsert(
        Immunization,
        [
            (row, {**row.fields, "patient_id": w.patient_id(row), "encounter_id": w.ref(row, "encounter")})
            for row in w.parsed.rows.get("immunization", [])
        ],
        kind="immunization",
    )


def _medication_orders(w: _Writer) -> None:
    from encounters.models import MedicationSource, MedicationStatement

    # reasonReference names a Condition of the bundle: keep its words (the order's reason, as text).
    problems = {r.key: r.fields["description"] for r in w.parsed.rows.get("problem", [])}
    out = []
    for row in w.parsed.rows.get("medication_order", []):
        f = dict(row.fields)
        if not f["reason_text"] and row.refs.get("reason_condition"):
            f["reason_text"] = problems.get(row.refs["reason_condition"], "")[:200]
        out.append(
            (
                row,
                {
                    **f,
                    "patient_id": w.patient_id(row),
                    "source": MedicationSource.IMPORTED,
                    "requester_id": w.ref(row, "requester"),
                    "encounter_id": w.ref(row, "encounter"),
                },
            )
        )
    w.upsert(MedicationStatement, out, kind="medication order")


# Vital signs arrive as one Observation per measurement; here they become one row per (patient, encounter, time).
# LOINC -> column, only for the codes the column serves back as they came (8331-1, oral temperature, is not
# 8310-5, body temperature: it stays a result with its own code).
VITAL_CODES = {
    "8480-6": "systolic",
    "8462-4": "diastolic",
    "8867-4": "heart_rate",
    "9279-1": "resp_rate",
    "8310-5": "temperature",
    "29463-7": "weight",
    "8302-2": "height",
    "59408-5": "spo2",
    "2708-6": "spo2",
    "39156-5": "bmi",
    "72514-3": "pain_score",
}
BP_PANELS = {"85354-9", "55284-4"}  # the set serves 85354-9; the received code is kept with it (fidelity.py)
# The column's own UCUM unit, and the conversions known exactly. Any other unit is refused by the table: the
# measurement is kept as a result in the unit it came in (120 [oz_av] is never 120 kg).
COLUMN_UNITS = {
    "systolic": "mm[Hg]",
    "diastolic": "mm[Hg]",
    "heart_rate": "/min",
    "resp_rate": "/min",
    "temperature": "Cel",
    "weight": "kg",
    "height": "cm",
    "spo2": "%",
    "bmi": "kg/m2",
    "pain_score": "{score}",
}
UNIT_CONVERSIONS = {
    ("temperature", "[degF]"): lambda v: (v - 32) * 5 / 9,
    ("weight", "[lb_av]"): lambda v: v * Decimal("0.45359237"),
    ("weight", "g"): lambda v: v / 1000,
    ("height", "[in_i]"): lambda v: v * Decimal("2.54"),
    ("height", "m"): lambda v: v * 100,
}


def _vital_value(column: str, part: dict):
    """The measurement in the column's terms, or None when it does not belong in the column (unit not known
    exactly, value outside what is possible): then it is kept as a result, as sent."""
    value, unit = part["value_quantity"], part.get("value_unit")
    if value is None:
        return None
    if unit != COLUMN_UNITS[column]:
        convert = UNIT_CONVERSIONS.get((column, str(unit)))
        if convert is None:
            return None
        value = convert(value)
    places = given.vital_places(column)  # the column's value; the number as sent is kept beside it (as_sent)
    value = given.rounded(value, places) if places else int(given.rounded(value, 0))
    from encounters.vitals import BY_FIELD

    d = BY_FIELD.get(column)
    if d and not d.possible[0] <= float(value) <= d.possible[1]:
        return None
    return value


def _vital_columns(row: Row) -> tuple[dict, dict] | None:
    """({column: value}, {column: number as sent}) for a vital-sign Observation that fits the vital-signs columns
    whole, else None. A number is kept as sent only in the column's own unit (a converted one is ours)."""
    f = row.fields
    code = f["loinc_code"]
    if f["category"] != "vital-signs" or not (code in VITAL_CODES or code in BP_PANELS):
        return None
    if code in BP_PANELS:
        parts = f["components"]
    else:
        parts = [{"code": code, **f, "value_sent": (f["as_sent"] or {}).get("value_quantity")}]
    values: dict = {}
    sent: dict = {}
    for part in parts:
        column = VITAL_CODES.get(part["code"])
        if column is None:
            return None
        value = _vital_value(column, part)
        if value is None:
            return None
        values[column] = value
        if part.get("value_unit") == COLUMN_UNITS[column] and part.get("value_sent") is not None:
            sent[column] = part["value_sent"]
    if code in BP_PANELS and len(values) == 2:
        sent["bp_order"] = list(values)  # systolic and diastolic in the order sent
    return (values, sent) if values else None


def _result_values(w: _Writer, row: Row, categories_known: set) -> dict:
    values = {k: v for k, v in row.fields.items() if k != "components"}
    if row.fields["components"]:
        w.result.dropped_elements["Observation.component"] += 1
    if values["category"] not in categories_known:
        w.result.dropped_elements[f"Observation.category={values['category']}"] += 1
        values["category"] = "laboratory"
    return {**values, "patient_id": w.patient_id(row), "encounter_id": w.ref(row, "encounter")}


def _observations(w: _Writer) -> None:
    """Vital signs that fit the columns become sets of vital signs; every other Observation a result. Nothing is
    computed: a set without a BMI Observation has no BMI."""
    from encounters.models import Observation, ObservationCategory, VitalSigns

    categories_known = set(ObservationCategory.values)
    groups: dict[tuple, dict] = {}
    others = []
    for row in w.parsed.rows.get("observation", []):
        columns = _vital_columns(row)
        if columns is None:
            others.append((row, _result_values(w, row, categories_known)))
            continue
        key = (w.patient_id(row), row.refs.get("encounter"), row.fields["effective"])
        group = groups.setdefault(key, {"rows": [], "values": {}, "sent": {}})
        group["rows"].append(row)
        group["values"].update(columns[0])
        group["sent"].update(columns[1])
        if "effective" in (row.fields["as_sent"] or {}):
            group["sent"].setdefault("taken_at", row.fields["as_sent"]["effective"])
    w.upsert(Observation, others, kind="observation")
    vital_rows = []
    for (patient_id, enc_key, taken_at), group in groups.items():
        first = min(group["rows"], key=lambda r: r.source_id)
        encounter_id = w.local.get(enc_key) if enc_key else None
        values = {
            **group["values"],
            "patient_id": patient_id,
            "taken_at": taken_at,
            "encounter_id": encounter_id,
            "as_sent": group["sent"] or None,
        }
        vital_rows.append((first, values, group["rows"]))
    w.upsert(VitalSigns, [(first, values) for first, values, _ in vital_rows], kind="vital signs")
    for first, _, rows in vital_rows:  # every measurement of the set points at the same row
        for row in rows:
            if row is not first:
                w.link(row, VitalSigns, w.local[first.key], w.patient_of_row(row))


WRITERS = (
    _patients,
    _practitioners,
    _encounters,
    _problems,
    _allergies,
    _immunizations,
    _medication_orders,
    _observations,
)


def bundle_import(
    *, actor, bundle: dict, source: str = "import", department=None, care_team=(), label: str = ""
) -> BundleResult:
    """Import one FHIR bundle. Who: holders of fhirapi.import_bundle (the import account, superusers).

    Every resource is stored: mapped into the chart or kept as received; a resource that cannot be used is reported
    in the result's issues (OperationOutcome) and kept. Refuses the whole bundle (BundleRefused: entry, resource,
    reason) only for the bundle itself or its Patient; nothing of it is written then. Re-importing updates the rows of the first import (ImportedRecord). One audit event per bundle.
    """
    if not actor.has_perm(IMPORT_PERMISSION):
        raise PermissionDenied("Importing FHIR data needs the fhirapi.import_bundle permission.")
    parsed = parse_bundle(bundle)
    if not parsed.rows.get("patient") and any(parsed.rows.get(k) for k in parsed.rows if k != "practitioner"):
        raise BundleRefused("the bundle has clinical data but no Patient resource")
    try:
        with transaction.atomic():
            w = _Writer(actor=actor, source=source, parsed=parsed, department=department, care_team=care_team)
            w.load_links()
            for write in WRITERS:
                write(w)
            _allergy_banners(w)
            keeping.kept_prepare(w)
            keeping.records_finish(w)
            access_record(
                actor=actor,
                action=Action.CREATE,
                category=categories.FHIR_IMPORT,
                patient_ids=w.result.patient_ids,
                channel="command",
                detail={
                    "source": source,
                    "label": label[:200],
                    "created": dict(w.result.created),
                    "updated": dict(w.result.updated),
                    "not_modelled": dict(parsed.not_modelled),
                    "issues": len(parsed.issues),
                },
            )
    except IntegrityError as exc:
        raise BundleRefused(f"the database refused it: {_constraint(exc)}") from None
    return w.result


def _allergy_banners(w: _Writer) -> None:
    from encounters.services import allergy_banner_sync

    touched = {w.patient_of[r.patient_key or ""] for r in w.parsed.rows.get("allergy", [])}
    for patient_id in touched:
        allergy_banner_sync(patient_id)


def _constraint(exc: IntegrityError) -> str:
    diag = getattr(getattr(exc, "__cause__", None), "diag", None)
    name = getattr(diag, "constraint_name", None)
    return f"constraint {name}" if name else str(exc).splitlines()[0]
