"""Provenance of writes through the API: who wrote which version of what, and when.

Each create and update records one Provenance resource (target: the version written, `recorded`, `activity`
CREATE/UPDATE, `agent`: the actor -- the user's Practitioner, the Patient acting for themselves, or the OAuth
client as a Device named by its client id -- and the client application as a second agent when a user acted
through it). It is kept like the resources of types the product does not model (KeptResource, source
"fhir-api", with the patient), so `Provenance/<id>`, `Provenance?patient=`, `$everything` and the EHI export serve
it through the same door; `Provenance?target=Type/id` finds those of one resource (any version), within the
patients the token may see.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from django.utils import timezone

from core.actors import PATIENT, PROXY, SYSTEM, as_actor

from . import search
from .models import KeptResource

API_SOURCE = "fhir-api"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
CLIENT_ID_SYSTEM = "urn:ietf:params:oauth:client-id"


def _coding(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _client_ref(client_id: str, name: str) -> dict:
    return {
        "type": "Device",
        "identifier": {"system": CLIENT_ID_SYSTEM, "value": client_id},
        "display": name or client_id,
    }


def _who(actor, app) -> dict:
    a = as_actor(actor)
    if a.kind == SYSTEM:
        return _client_ref(a.client_id, getattr(app, "name", ""))
    if a.kind in (PATIENT, PROXY) and a.own_patient_id:
        ref = {"reference": f"Patient/{a.own_patient_id}"}
        return {**ref, "display": a.user.get_full_name() or a.user.get_username()}
    user = a.user
    display = user.get_full_name() or user.get_username()
    try:
        return {"reference": f"Practitioner/{user.practitioner.pk}", "display": display}
    except Exception:  # noqa: BLE001 - a user who is no practitioner: named, not referenced
        return {"display": display}


def provenance_build(*, target: str, version: int, activity: str, actor, app, when=None) -> dict:
    a = as_actor(actor)
    agents = [{"type": _coding(PARTICIPANT_TYPE, "author", "Author"), "who": _who(a, app)}]
    if a.kind != SYSTEM and app is not None:  # a person acted through an application: it assembled the data
        agents.append(
            {
                "type": _coding(PARTICIPANT_TYPE, "assembler", "Assembler"),
                "who": _client_ref(app.client_id, app.name),
            }
        )
    if a.kind == PROXY and a.represented_patient_id:
        agents[0]["onBehalfOf"] = {"reference": f"Patient/{a.represented_patient_id}"}
    return {
        "resourceType": "Provenance",
        "target": [{"reference": f"{target}/_history/{version}"}],
        "recorded": timezone.localtime(when or timezone.now()).isoformat(),
        "activity": _coding(DATA_OPERATION, activity, {"CREATE": "create", "UPDATE": "revise"}[activity]),
        "agent": agents,
    }


def provenance_record(
    *, target: str, version: int, activity: str, actor, app, patient_id, when=None
) -> KeptResource:
    """Keep the Provenance of one write (inside the write's transaction: both or neither)."""
    body = provenance_build(
        target=target, version=version, activity=activity, actor=actor, app=app, when=when
    )
    pk = uuid.uuid4()
    body["id"] = str(pk)
    return KeptResource.objects.create(
        id=pk,
        patient_id=patient_id,
        resource_type="Provenance",
        source=API_SOURCE,
        source_id=str(pk),
        resource=body,
    )


def _target_q(value: str) -> Q:
    q = Q()
    for one in (v.strip() for v in value.split(",")):
        if not one:
            raise search.SearchError("target was given without a value.")
        ref = one.split("/fhir/", 1)[-1] if "://" in one else one
        if "/_history/" in ref:
            q |= Q(resource__target__0__reference=ref)
        else:
            q |= Q(resource__target__0__reference__startswith=f"{ref}/_history/")
    return q


def provenance_search(original):
    """Provenance searches: as for the other kept types, plus `target` (a reference, any version or one),
    which may stand instead of `patient`: the patients of the matching Provenance, cut down to those the token
    reaches."""
    from . import selectors
    from .fidelity import kept_to_fhir
    from .resources import Page

    def run(*, grant, params, count: int, offset: int, request):
        targets = params.getlist("target")
        if not targets:
            return original(grant=grant, params=params, count=count, offset=offset, request=request)
        unknown = sorted({k.partition(":")[0] for k in params} - {"target", "patient", "subject", "_id"})
        unknown = [k for k in unknown if k not in search.PAGING_PARAMS]
        if unknown:
            raise search.SearchError(
                f"Unknown search parameter {unknown[0]!r}. Supported: _id, patient, subject, target, "
                f"{', '.join(search.PAGING_PARAMS)}."
            )
        qs = KeptResource.objects.filter(resource_type="Provenance")
        for value in targets:
            qs = qs.filter(_target_q(value))
        for value in params.getlist("_id"):
            qs = qs.filter(search.kept_id(value))
        named = search.patient_refs(params)
        candidates = {str(p) for p in qs.values_list("patient_id", flat=True) if p}
        if named is not None:
            candidates &= set(named)
        reach = selectors.clinical_patients_in_reach(
            resource_type="Provenance",
            actor=grant.actor,
            patient_ids=sorted(candidates),
            launch_patient_id=grant.patient_id,
        )
        rows = qs.filter(patient_id__in=reach).order_by("received_at", "pk")
        total = rows.count()
        page = list(rows[offset : offset + count]) if count else []
        selectors.clinical_search_record(
            resource_type="Provenance",
            actor=grant.actor,
            patient_ids=reach,
            request=request,
            param_names=[k for k in params if k not in search.PAGING_PARAMS],
        )
        return Page([kept_to_fhir(r) for r in page], total)

    return run
