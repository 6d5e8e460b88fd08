"""ServiceRequest (US Core) from orders.Order: the mapping and the search parameters, kept beside mapping.py and
search.py (which are long already). ServiceRequests imported from elsewhere stay readable as they were received
(fhirapi.fidelity: a kept resource of a type the product models)."""

from __future__ import annotations

from django.db.models import Q

from . import search
from .mapping import ICD10CM_SYSTEM, LOINC_SYSTEM, US_CORE, _clean, _coding, _dt, _ref, _user_ref_safe

# orders.OrderStatus -> ServiceRequest.status (request-status): in the lab's hands until a final result.
SERVICE_REQUEST_STATUS = {
    "signed": "active",
    "queued": "active",
    "sent": "active",
    "needs_attention": "active",
    "preliminary": "active",
    "final": "completed",
    "corrected": "completed",
    "completed": "completed",
    "cancelled": "revoked",
}
PRIORITY = {"routine": "routine", "urgent": "urgent", "stat": "stat"}
CATEGORY_SYSTEM = "http://snomed.info/sct"
CATEGORY = {"lab": ("108252007", "Laboratory procedure"), "imaging": ("363679005", "Imaging")}
PLACER_SYSTEM = "urn:openehr:placer-order-number"


def service_request_to_fhir(order) -> dict:
    test = order.test
    category = CATEGORY.get(test.kind)
    out = {
        "resourceType": "ServiceRequest",
        "id": str(order.pk),
        "meta": {"profile": [US_CORE + "us-core-servicerequest"]},
        "identifier": [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PLAC"}]
                },
                "system": PLACER_SYSTEM,
                "value": order.placer_number,
            }
        ],
        "status": SERVICE_REQUEST_STATUS.get(order.status, "unknown"),
        "intent": "order",
        "category": [{"coding": [_coding(CATEGORY_SYSTEM, *category)], "text": category[1]}]
        if category
        else [],
        "priority": PRIORITY.get(order.priority, "routine"),
        "code": {"coding": [_coding(LOINC_SYSTEM, test.loinc, test.name)], "text": test.name},
        "subject": _ref("Patient", order.patient_id),
        "encounter": _ref("Encounter", order.encounter_id) if order.encounter_id else None,
        "authoredOn": _dt(order.signed_at or order.created_at),
        "requester": _user_ref_safe(order.ordering_clinician),
        "performer": [{"display": order.lab.name}] if order.lab_id else [],
        "reasonCode": [
            {"coding": [_coding(ICD10CM_SYSTEM, d["code"], d["description"])], "text": d["description"]}
            for d in order.diagnoses
        ],
        "note": [{"text": f"{a['text']}: {a['answer']}"} for a in order.answers],
    }
    return _clean(out)


def _status(value: str) -> Q:
    return search._reverse(SERVICE_REQUEST_STATUS, value, "status", {"draft", "on-hold", "entered-in-error"})


def _code(value: str) -> Q:
    code = search._system_code(value, LOINC_SYSTEM)
    return Q(test__loinc=code) if code else search.NOTHING


SERVICE_REQUEST_PARAMS = {
    "_id": search._uuid_id,
    "status": _status,
    "code": _code,
    "authored": lambda v: search.datetime_query("signed_at", v),
}
