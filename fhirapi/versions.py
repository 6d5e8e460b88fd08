"""Versions of resources written through the API: `meta.versionId`, `_history`, vread and `If-Match`.

A version is the resource as the API served it right after the write (ResourceVersion). The EHR's own screens do
not write versions; instead, whenever the API serves a versioned resource (read, update, history) it compares what it
serves now with the last version (a digest of the JSON without `meta`) and, when they differ, records what it serves
as a new version first (method "ehr": changed in the EHR, actor unknown). So `meta.versionId` always names the
content served, `If-Match` with an older version is refused (412) after a change in the UI too, and the history
shows every state a client could have seen. Resources never written through the API have no versions (no
`meta.versionId`); their first update records their state before it as version 1.
"""

from __future__ import annotations

import copy
import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import SYSTEM, as_actor

from .models import ResourceVersion


def digest(resource: dict) -> str:
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def stamped(resource: dict, version: ResourceVersion) -> dict:
    """The resource with meta.versionId and meta.lastUpdated of `version`."""
    out = dict(resource)
    meta = dict(out.get("meta") or {})
    meta["versionId"] = str(version.version)
    meta["lastUpdated"] = timezone.localtime(version.recorded_at).isoformat()
    out["meta"] = meta
    return out


def latest(resource_type: str, resource_id: str) -> ResourceVersion | None:
    return (
        ResourceVersion.objects.filter(resource_type=resource_type, resource_id=resource_id)
        .order_by("-version")
        .first()
    )


def record(
    *, resource: dict, method: str, actor=None, patient_id=None, previous: ResourceVersion | None = None
) -> tuple[dict, ResourceVersion]:
    """Append the next version of `resource` (as served); returns it stamped. Two writers racing for the same
    version number: the database refuses the second (unique constraint) and it takes the next number."""
    a = as_actor(actor) if actor is not None else None
    rtype, rid = resource["resourceType"], resource["id"]
    number = (previous.version if previous else 0) + 1
    for _ in range(3):
        now = timezone.now()
        row = ResourceVersion(
            resource_type=rtype,
            resource_id=rid,
            version=number,
            digest=digest(resource),
            recorded_at=now,
            method=method,
            patient_id=patient_id,
            actor=a.user if a is not None and getattr(a.user, "pk", None) else None,
            actor_kind=a.kind if a is not None else "",
            client_id=a.client_id if a is not None and a.kind == SYSTEM else "",
        )
        row.resource = stamped(copy.deepcopy(resource), row)
        try:
            with transaction.atomic():
                row.save(force_insert=True)
            return row.resource, row
        except IntegrityError:
            current = latest(rtype, rid)
            number = (current.version if current else 0) + 1
    raise IntegrityError(f"Could not record a version of {rtype}/{rid}")


def current(resource: dict, *, patient_id=None) -> dict:
    """What a read serves: the resource stamped with its version, after recording a change made in the EHR as a
    version of its own. Unversioned resources come back as they are."""
    last = latest(resource["resourceType"], resource["id"])
    if last is None:
        return resource
    if last.digest == digest(resource):
        return stamped(resource, last)
    served, _ = record(
        resource=resource, method=ResourceVersion.EHR, patient_id=patient_id or last.patient_id, previous=last
    )
    return served


def baseline(resource: dict, *, patient_id=None) -> ResourceVersion:
    """The version an update starts from: the last one, after recording the served state as a version when it is
    new (first update of a resource made elsewhere, or a change in the EHR since)."""
    last = latest(resource["resourceType"], resource["id"])
    if last is not None and last.digest == digest(resource):
        return last
    _, row = record(resource=resource, method=ResourceVersion.EHR, patient_id=patient_id, previous=last)
    return row


def history(resource_type: str, resource_id: str) -> list[ResourceVersion]:
    return list(
        ResourceVersion.objects.filter(resource_type=resource_type, resource_id=resource_id).order_by(
            "-version"
        )
    )


def version_get(resource_type: str, resource_id: str, version: str) -> ResourceVersion | None:
    if not version.isdigit():
        return None
    return ResourceVersion.objects.filter(
        resource_type=resource_type, resource_id=resource_id, version=int(version)
    ).first()


def etag(version: ResourceVersion | str | int) -> str:
    number = version.version if isinstance(version, ResourceVersion) else version
    return f'W/"{number}"'


def if_match_version(header: str | None) -> str | None:
    """The version an If-Match header names (W/"3", "3" or 3), or None without the header."""
    if not header:
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')
