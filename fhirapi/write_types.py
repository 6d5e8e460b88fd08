"""What each writable type becomes, and which of the product's services writes it (fhirapi/writing.py runs them).

Elements are read with the import's parsers (fhirapi/parsers.py), then checked more strictly than an import does:
an import keeps whatever it cannot use as received, a client writing through the API is told (400/422 naming the
element). Nothing is silently changed: a unit the vital-signs table cannot convert exactly is refused, never
relabelled; a status or category the chart has no word for is refused, never replaced by a default.
"""

from __future__ import annotations

from accounts import roles
from audit import categories
from core.guarded import patient_id_of

from . import parsers
from .models import KeptResource
from .provenance import API_SOURCE
from .write_appointment import AppointmentWriter
from .write_base import TypeWriter, parsed, unchanged
from .write_rx import MedicationRequestWriter
from .writing import (
    WriteError,
    Written,
    bad,
    reference_id,
    unprocessable,
)


# ---------------------------------------------------------------------------------------------------- Patient
class PatientWriter(TypeWriter):
    name = "Patient"
    subject = ""
    perm = roles.CHANGE_DEMOGRAPHICS
    category = categories.DEMOGRAPHICS
    paths = {
        "given_name": "Patient.name.given",
        "family_name": "Patient.name.family",
        "middle_name": "Patient.name.given",
        "birth_date": "Patient.birthDate",
        "sex_at_birth": "Patient.gender",
        "email": "Patient.telecom",
        "phones": "Patient.telecom",
        "addresses": "Patient.address",
        "deceased_date": "Patient.deceasedDateTime",
        "ssn": "Patient.identifier",
    }

    def prepare_create(self, ctx, r):
        return None  # a new chart: registering needs patients.register_patient (checked by the service)

    def patient_of(self, rid):
        return rid

    def create(self, ctx, r, _pid) -> Written:
        from patients.duplicates import DuplicatesFound
        from patients.services import patient_register

        fields, _, _ = parsed(parsers.patient, r)
        try:
            patient = self.call(patient_register, actor=ctx.user, data=fields, request=ctx.request)
        except DuplicatesFound as exc:
            raise WriteError(
                409,
                "duplicate",
                f"A patient with these details may already be registered ({len(exc.candidates)} possible "
                "match(es)). Search first (Patient?family=&birthdate=), or use If-None-Exist.",
            ) from None
        return Written("Patient", str(patient.pk), patient.pk, patient)

    def update(self, ctx, rid, r, pid) -> Written:
        from patients.services import patient_update

        fields, _, _ = parsed(parsers.patient, r)
        patient = self.call(patient_update, actor=ctx.user, patient_id=pid, data=fields, request=ctx.request)
        return Written("Patient", str(patient.pk), patient.pk, patient)


# ---------------------------------------------------------------------------------------------------- Observation
RESULT_PATHS = {
    "value_quantity": "Observation.valueQuantity.value",
    "value_unit": "Observation.valueQuantity.code",
    "value_text": "Observation.valueString",
    "value_code": "Observation.valueCodeableConcept",
    "loinc_code": "Observation.code",
    "display": "Observation.code.text",
    "effective": "Observation.effectiveDateTime",
    "issued": "Observation.issued",
    "status": "Observation.status",
    "category": "Observation.category",
    "reference_low": "Observation.referenceRange.low",
    "reference_high": "Observation.referenceRange.high",
    "encounter": "Observation.encounter",
}


def _vital_parts(fields: dict) -> list[dict] | None:
    """The measurements of a vital-sign Observation the vital-signs table holds, or None for a result."""
    from .services import BP_PANELS, VITAL_CODES

    code = fields["loinc_code"]
    if fields["category"] != "vital-signs" or not (code in VITAL_CODES or code in BP_PANELS):
        return None
    return fields["components"] if code in BP_PANELS else [{"code": code, **fields}]


def _vital_values(parts: list[dict]) -> tuple[dict, dict]:
    """{column: value as sent}, {column: UCUM unit as sent} -- vitals_record converts or refuses."""
    from encounters import vitals

    from .services import VITAL_CODES

    values, units = {}, {}
    for i, part in enumerate(parts):
        column = VITAL_CODES.get(part["code"])
        where = f"Observation.component[{i}]" if len(parts) > 1 or "components" not in part else "Observation"
        if column is None:
            raise unprocessable(
                f"{where}.code {part['code']!r} is not part of a blood pressure.", f"{where}.code"
            )
        if column == "bmi":
            raise unprocessable(
                "BMI is computed from weight and height here; send those instead.", "Observation.code"
            )
        if part["value_quantity"] is None:
            raise bad(f"{where}.valueQuantity is required for a vital sign.", f"{where}.valueQuantity")
        unit = part.get("value_unit") or ""
        if column in vitals.CONVERTIBLE:
            units[column] = unit
        elif unit not in (vitals.BY_FIELD[column].unit, "{score}" if column == "pain_score" else ""):
            raise unprocessable(
                f"{unit!r} is not the unit of {vitals.BY_FIELD[column].label.lower()} "
                f"({vitals.BY_FIELD[column].unit}); it is not converted.",
                f"{where}.valueQuantity.code",
            )
        values[column] = part["value_quantity"]
    return values, units


class ObservationWriter(TypeWriter):
    name = "Observation"
    category = categories.RESULTS
    paths = RESULT_PATHS
    default_path = "Observation.valueQuantity"
    no_update = "Vital signs are corrected in the chart; record a new Observation instead."

    def _fields(self, r: dict) -> dict:
        from encounters.models import ObservationCategory

        from .parsers import OBSERVATION_STATUSES

        if r.get("status") not in OBSERVATION_STATUSES:
            raise bad(
                f"Observation.status must be one of {', '.join(OBSERVATION_STATUSES)}; got {r.get('status')!r}.",
                "Observation.status",
            )
        fields, _, _ = parsed(parsers.observation, r)
        if fields["category"] not in ObservationCategory.values:
            raise unprocessable(
                f"Observation.category {fields['category']!r} is not one the chart keeps "
                f"({', '.join(ObservationCategory.values)}).",
                "Observation.category",
            )
        return fields

    def create(self, ctx, r, pid) -> Written:
        from encounters.findings import vitals_record
        from encounters.results import result_record

        from . import mapping

        fields = self._fields(r)
        encounter_id = reference_id(r.get("encounter"), "Encounter", "Observation.encounter")
        parts = _vital_parts(fields)
        if parts is not None:
            values, units = _vital_values(parts)
            vs = self.call(
                vitals_record,
                actor=ctx.user,
                patient_id=pid,
                values=values,
                units=units,
                encounter_id=encounter_id,
                taken_at=fields["effective"],
                request=ctx.request,
            )
            suffix = {**mapping.VITAL_CODE_SUFFIX, "55284-4": "bp"}[fields["loinc_code"]]
            return Written("Observation", f"{vs.pk}-{suffix}", pid, vs)
        if fields["components"]:
            raise unprocessable(
                "Observation.component is kept for blood pressure only; send each result as its own Observation.",
                "Observation.component",
            )
        obs = self.call(
            result_record,
            actor=ctx.user,
            patient_id=pid,
            values=fields,
            encounter_id=encounter_id,
            request=ctx.request,
        )
        return Written("Observation", str(obs.pk), pid, obs)

    def patient_of(self, rid):
        from encounters.models import Observation

        from .mapping import VITAL_SUFFIXES

        if rid.rpartition("-")[2] in VITAL_SUFFIXES:
            raise WriteError(405, "not-supported", self.no_update)
        return patient_id_of(Observation, rid, "result")

    def update(self, ctx, rid, r, pid) -> Written:
        from encounters.results import result_correct

        fields = self._fields(r)
        if _vital_parts(fields) is not None:
            raise unprocessable(self.no_update, "Observation.code")
        if fields["components"]:
            raise unprocessable(
                "Observation.component is kept for blood pressure only.", "Observation.component"
            )
        obs = self.call(result_correct, actor=ctx.user, result_id=rid, values=fields, request=ctx.request)
        return Written("Observation", str(obs.pk), pid, obs)


# ---------------------------------------------------------------------------------------------------- Condition
class ConditionWriter(TypeWriter):
    name = "Condition"
    category = categories.PROBLEMS
    paths = {
        "code": "Condition.code",
        "onset_date": "Condition.onsetDateTime",
        "resolved_date": "Condition.abatementDateTime",
        "status": "Condition.clinicalStatus",
        "description": "Condition.code.text",
    }
    default_path = "Condition"

    def _fields(self, r):
        fields, _, _ = parsed(parsers.condition, r)
        if not fields["icd10"]:
            raise unprocessable(
                "Condition.code needs an ICD-10-CM coding (system http://hl7.org/fhir/sid/icd-10-cm): the problem "
                "list is coded in ICD-10-CM.",
                "Condition.code",
            )
        return fields

    def _status(self, ctx, problem, fields):
        from encounters.findings import problem_status_set

        if fields["status"] != problem.status:
            problem = self.call(
                problem_status_set,
                actor=ctx.user,
                problem_id=problem.pk,
                status=fields["status"],
                resolved_date=fields["resolved_date"],
                request=ctx.request,
            )
        return problem

    def create(self, ctx, r, pid) -> Written:
        from encounters.findings import problem_add

        fields = self._fields(r)
        problem = self.call(
            problem_add,
            actor=ctx.user,
            patient_id=pid,
            code=fields["icd10"],
            onset_date=fields["onset_date"],
            description=fields["description"],
            request=ctx.request,
        )
        problem = self._status(ctx, problem, fields)
        return Written("Condition", str(problem.pk), pid, problem)

    def patient_of(self, rid):
        from encounters.models import Problem

        return patient_id_of(Problem, rid, "problem")

    def update(self, ctx, rid, r, pid) -> Written:
        from encounters.models import Problem

        fields = self._fields(r)
        problem = Problem.objects.get(pk=rid)
        unchanged("Condition.code", fields["icd10"], problem.code_id, "record a new Condition instead")
        unchanged(
            "Condition.onsetDateTime", fields["onset_date"], problem.onset_date, "the onset stays as recorded"
        )
        problem = self._status(ctx, problem, fields)
        return Written("Condition", str(problem.pk), pid, problem)


# ---------------------------------------------------------------------------------------------------- AllergyIntolerance
class AllergyWriter(TypeWriter):
    name = "AllergyIntolerance"
    subject = "patient"
    category = categories.ALLERGIES
    paths = {
        "substance_text": "AllergyIntolerance.code",
        "substance_rxcui": "AllergyIntolerance.code",
        "category": "AllergyIntolerance.category",
        "criticality": "AllergyIntolerance.criticality",
        "severity": "AllergyIntolerance.reaction.severity",
        "reaction": "AllergyIntolerance.reaction.manifestation",
        "status": "AllergyIntolerance.clinicalStatus",
        "onset_date": "AllergyIntolerance.onsetDateTime",
    }
    default_path = "AllergyIntolerance"

    def _fields(self, r):
        if r.get("criticality") not in (None, "low", "high", "unable-to-assess"):
            raise bad(
                "AllergyIntolerance.criticality must be low, high or unable-to-assess.",
                "AllergyIntolerance.criticality",
            )
        kinds = r.get("category") or []
        if any(c not in ("food", "medication", "environment", "biologic") for c in kinds):
            raise bad(
                "AllergyIntolerance.category must be food, medication, environment or biologic.",
                "AllergyIntolerance.category",
            )
        fields, _, _ = parsed(parsers.allergy, r)
        return fields

    def _status(self, ctx, allergy, status):
        from encounters.services import allergy_status_set

        if status != allergy.status:
            allergy = self.call(
                allergy_status_set, actor=ctx.user, allergy_id=allergy.pk, status=status, request=ctx.request
            )
        return allergy

    def create(self, ctx, r, pid) -> Written:
        from encounters.services import allergy_record

        f = self._fields(r)
        allergy = self.call(
            allergy_record,
            actor=ctx.user,
            patient_id=pid,
            substance_text=f["substance_text"],
            category=f["category"],
            criticality=f["criticality"],
            severity=f["severity"],
            reaction=f["reaction"],
            substance_rxcui=f["substance_rxcui"],
            onset_date=f["onset_date"],
            request=ctx.request,
        )
        allergy = self._status(ctx, allergy, f["status"])
        return Written("AllergyIntolerance", str(allergy.pk), pid, allergy)

    def patient_of(self, rid):
        from encounters.models import Allergy

        return patient_id_of(Allergy, rid, "allergy")

    def update(self, ctx, rid, r, pid) -> Written:
        from encounters.models import Allergy

        f = self._fields(r)
        allergy = Allergy.objects.get(pk=rid)
        unchanged(
            "AllergyIntolerance.code", f["substance_text"], allergy.substance_text, "record a new allergy"
        )
        allergy = self._status(ctx, allergy, f["status"])
        return Written("AllergyIntolerance", str(allergy.pk), pid, allergy)


# ---------------------------------------------------------------------------------------------------- DocumentReference
DOC_STATUSES = ("current", "superseded", "entered-in-error")


class DocumentReferenceWriter(TypeWriter):
    """Documents sent by other systems: no document model of ours yet, so kept verbatim (KeptResource, with the
    patient) and served back as sent. Our own signed notes are DocumentReferences too; they change in the EHR
    (addenda), never through the API."""

    name = "DocumentReference"
    category = categories.CLINICAL_NOTE
    no_update = "Signed notes are amended with an addendum in the EHR."

    def _check(self, r):
        if r.get("status") not in DOC_STATUSES:
            raise bad(
                f"DocumentReference.status must be one of {', '.join(DOC_STATUSES)}.",
                "DocumentReference.status",
            )
        content = r.get("content")
        if not isinstance(content, list) or not content:
            raise bad(
                "DocumentReference.content is required (at least one attachment).",
                "DocumentReference.content",
            )
        for i, c in enumerate(content):
            att = c.get("attachment") if isinstance(c, dict) else None
            if not isinstance(att, dict) or not (att.get("data") or att.get("url")):
                raise bad(
                    f"DocumentReference.content[{i}].attachment needs data or a url.",
                    f"DocumentReference.content[{i}].attachment",
                )

    def create(self, ctx, r, pid) -> Written:
        self._check(r)
        kept = KeptResource(patient_id=pid, resource_type="DocumentReference", source=API_SOURCE)
        kept.source_id = str(kept.pk)
        kept.resource = {**{k: v for k, v in r.items() if k != "meta"}, "id": str(kept.pk)}
        kept.save(force_insert=True)
        return Written("DocumentReference", str(kept.pk), pid, None)

    def patient_of(self, rid):
        found = (
            KeptResource.objects.filter(pk=rid, resource_type="DocumentReference", source=API_SOURCE)
            .values_list("patient_id", flat=True)
            .first()
            if _is_uuid(rid)
            else None
        )
        if found is None:
            raise WriteError(405, "not-supported", self.no_update)
        return found

    def update(self, ctx, rid, r, pid) -> Written:
        self._check(r)
        kept = KeptResource.objects.select_for_update().get(pk=rid)
        kept.resource = {**{k: v for k, v in r.items() if k != "meta"}, "id": rid}
        kept.save(update_fields=["resource"])
        return Written("DocumentReference", rid, pid, None)


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


WRITERS: dict[str, TypeWriter] = {
    w.name: w
    for w in (
        PatientWriter(),
        ObservationWriter(),
        ConditionWriter(),
        AllergyWriter(),
        MedicationRequestWriter(),
        DocumentReferenceWriter(),
        AppointmentWriter(),
    )
}
