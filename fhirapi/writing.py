"""Creates and updates through the FHIR API (docs/fhir.md, "Writes").

A write goes the way a click in the EHR goes: the one door first (patients.selectors.patient_get with the write
permission, as the token's actor: a user, or the OAuth client narrowed to its scopes and binding; before any
transaction, so a refusal's denied event is kept), then the clinical app's own service (vitals_record, problem_add,
allergy_record, prescription_create, appointment_book ...), which checks again, validates and writes, and whose
rows django-auditlog records. Then, in the same transaction: the resource as sent is kept beside the row
(ImportedRecord, source "fhir-api", so reads serve it as sent while nobody changes the row: fhirapi/fidelity.py),
the new version (fhirapi/versions.py), the Provenance (fhirapi/provenance.py) and one access event naming the
resource, with channel "api" and the actor's kind. Any refusal raises WriteError (an OperationOutcome naming the
element) and nothing of the write stays.

The per-type work (what each element becomes, which service it goes to) is in fhirapi/write_types.py.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from audit.models import Action
from audit.services import access_record
from core.actors import PATIENT, PROXY, SYSTEM, Actor
from core.exceptions import ActionDenied
from patients.actors import READ_PERMISSIONS
from patients.selectors import patient_get

from . import versions
from .auth import Grant
from .models import ImportedRecord, ResourceVersion
from .provenance import API_SOURCE, provenance_record
from .values import Invalid

_PATH = re.compile(r"^([A-Z][A-Za-z]+(?:\.[A-Za-z\[\]0-9]+)*)")


class WriteError(Exception):
    """A refused write: HTTP status, OperationOutcome issue code, words for people, the FHIR path of the element."""

    def __init__(self, status: int, code: str, diagnostics: str, expression: str | None = None):
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics, self.expression = status, code, diagnostics, expression

    def issue(self) -> dict:
        issue = {"severity": "error", "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def bad(
    diagnostics: str, expression: str | None = None, status: int = 400, code: str = "invalid"
) -> WriteError:
    return WriteError(status, code, diagnostics, expression)


def unprocessable(diagnostics: str, expression: str | None = None) -> WriteError:
    return WriteError(422, "business-rule", diagnostics, expression)


def from_invalid(exc: Invalid) -> WriteError:
    """values.Invalid messages start with the element's path ("Observation.code has no coding")."""
    text = str(exc)
    m = _PATH.match(text)
    return bad(text, m.group(1) if m and "." in m.group(1) else None)


def from_validation(exc: ValidationError, paths: dict[str, str], default: str | None = None) -> WriteError:
    """A service's ValidationError -> 422 naming the element of the first field it names."""
    by_field = getattr(exc, "message_dict", None) or {}
    for name, messages in by_field.items():
        if name in paths or name != "__all__":
            return unprocessable(" ".join(messages), paths.get(name, default))
    return unprocessable(" ".join(exc.messages), default)


@dataclass(frozen=True)
class WriteContext:
    actor: Actor
    grant: Grant
    app: object | None  # the OAuth application of the token
    request: object

    @property
    def user(self):
        """What the clinical services record as the author (recorded_by, created_by, prescriber): the account."""
        return self.actor.user


@dataclass
class Written:
    resource_type: str
    id: str  # the id it is served under
    patient_id: uuid.UUID | None
    row: object | None  # the row of ours it became (None: kept as sent, fhirapi.KeptResource)


def writer_check(ctx: WriteContext) -> None:
    if ctx.actor.kind in (PATIENT, PROXY):
        raise WriteError(
            403,
            "forbidden",
            "Patients and proxies cannot write through the API yet; book and message through the practice.",
        )


def door(ctx: WriteContext, patient_id, *, perm: str, category: str):
    """The write check as the token's actor (Http404 for a patient out of reach, ActionDenied when the actor
    sees the patient but may not do this), held to the launch patient of a patient/ scope."""
    if ctx.grant.patient_id is not None and str(patient_id) != str(ctx.grant.patient_id):
        raise Http404
    try:
        return patient_get(
            actor=ctx.actor,
            patient_id=patient_id,
            perm=perm,
            category=category,
            request=ctx.request,
            record=False,
        )
    except Http404 as exc:
        # A transaction bundle rolls the denied event back with everything else; it records it again after.
        exc.denied = {"actor": ctx.actor, "patient_id": patient_id, "category": category, "perm": perm}  # type: ignore[attr-defined]
        raise


def patient_reference(r: dict, element: str) -> uuid.UUID:
    """The patient a resource names in `element` (Patient/<id>)."""
    path = f"{r.get('resourceType')}.{element}"
    ref = r.get(element)
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str) or not value:
        raise bad(f"{path} is required: a reference to the patient (Patient/<id>).", path, code="required")
    return patient_id_in(value, path)


def patient_id_in(value: str, path: str) -> uuid.UUID:
    kind, _, rid = value.split("/fhir/", 1)[-1].rpartition("/")
    kind = kind.rsplit("/", 1)[-1]
    if kind != "Patient":
        raise bad(f"{path} must reference a Patient, not {value!r}.", path)
    try:
        return uuid.UUID(rid)
    except ValueError:
        raise Http404 from None  # no such patient here: the same answer as one out of reach


def reference_id(ref, want: str, path: str) -> str | None:
    """The id of an optional reference to one of our resources of type `want`, or None when absent."""
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not value:
        return None
    kind, _, rid = str(value).rpartition("/")
    if kind.rsplit("/", 1)[-1] != want:
        raise bad(f"{path} must reference a {want}, not {value!r}.", path)
    return rid


# ---------------------------------------------------------------------------------------------- after the service
def _readback_grant(ctx: WriteContext) -> Grant:
    """The client gets back what it wrote, also under a write-only system scope (its own resource)."""
    a = ctx.actor
    if a.kind == SYSTEM and a.scope_perms is not None:
        a = dataclasses.replace(a, scope_perms=a.scope_perms | READ_PERMISSIONS)
    return Grant(actor=a, context=ctx.grant.context, patient_id=ctx.grant.patient_id)


def served(ctx: WriteContext, resource_type: str, resource_id: str) -> dict:
    from .resources import REGISTRY

    return REGISTRY[resource_type].read(
        grant=_readback_grant(ctx), resource_id=resource_id, request=ctx.request
    )


def keep_as_sent(written: Written, sent: dict) -> None:
    """The resource as sent, beside the row it became: reads serve it (values, codes and precision as sent) while
    the row is unchanged (fhirapi/fidelity.py)."""
    from .fidelity import row_digest

    row = written.row
    if row is None:
        return
    fresh = type(row).objects.get(
        pk=row.pk
    )  # the digest of the row as stored (Decimal places as the column has)
    body = {k: v for k, v in sent.items() if k not in ("meta", "id")}
    ImportedRecord.objects.update_or_create(
        source=API_SOURCE,
        resource_type=written.resource_type,
        source_id=written.id,
        defaults={
            "target_model": row._meta.label_lower,
            "target_id": str(row.pk),
            "patient_id": written.patient_id,
            "resource": body,
            "refs": {},
            "served_id": written.id,
            "row_digest": row_digest(fresh),
        },
    )


def finish(ctx: WriteContext, written: Written, sent: dict, *, method: str, category: str, previous=None):
    """Keep as sent, serve, version, Provenance, access event. Returns (resource as served, its version)."""
    keep_as_sent(written, sent)
    resource = served(ctx, written.resource_type, written.id)
    stamped, version = versions.record(
        resource=resource, method=method, actor=ctx.actor, patient_id=written.patient_id, previous=previous
    )
    activity = "CREATE" if method == ResourceVersion.CREATE else "UPDATE"
    provenance = provenance_record(
        target=f"{written.resource_type}/{written.id}",
        version=version.version,
        activity=activity,
        actor=ctx.actor,
        app=ctx.app,
        patient_id=written.patient_id,
        when=version.recorded_at,
    )
    access_record(
        actor=ctx.actor,
        action=Action.CREATE if method == ResourceVersion.CREATE else Action.UPDATE,
        category=category,
        patient_id=written.patient_id,
        request=ctx.request,
        channel="api",
        detail={
            "resource": f"{written.resource_type}/{written.id}",
            "version": version.version,
            "provenance": str(provenance.pk),
        },
    )
    return stamped, version


# ---------------------------------------------------------------------------------------------- create and update
def _check_shape(resource, resource_type: str | None = None) -> str:
    if not isinstance(resource, dict):
        raise bad("The body must be a FHIR resource (a JSON object).")
    rtype = resource.get("resourceType")
    if resource_type is not None and rtype != resource_type:
        raise bad(
            f"The body is a {rtype or 'resource without resourceType'}, not a {resource_type}.",
            "resourceType",
        )
    return str(rtype)


def _type_writer(rtype: str):
    from .write_types import WRITERS

    handler = WRITERS.get(rtype)
    if handler is None:
        raise WriteError(
            405, "not-supported", f"{rtype} is not written through this API (see the CapabilityStatement)."
        )
    return handler


def _guarded(fn, *args, **kwargs):
    """Run a service call: its refusals become WriteError; a 403 of the door stays an ActionDenied."""
    try:
        return fn(*args, **kwargs)
    except Invalid as exc:
        raise from_invalid(exc) from None
    except PermissionDenied as exc:
        raise WriteError(403, "forbidden", str(exc) or "You do not have permission to do this.") from None


def create(ctx: WriteContext, resource: dict, *, resource_type: str | None = None, atomic: bool = True):
    """POST [type]: returns (resource as served, version). The door is passed before the transaction opens."""
    rtype = _check_shape(resource, resource_type)
    handler = _type_writer(rtype)
    writer_check(ctx)
    patient_id = _guarded(handler.prepare_create, ctx, resource)
    with transaction.atomic() if atomic else _nothing():
        written = _guarded(handler.create, ctx, resource, patient_id)
        return finish(ctx, written, resource, method=ResourceVersion.CREATE, category=handler.category)


def update(
    ctx: WriteContext, resource_type: str, resource_id: str, resource: dict, *, if_match=None, atomic=True
):
    """PUT [type]/[id]: returns (resource as served, version). If-Match names the version the client changed;
    another one is 412 (someone changed it since, through the API or in the EHR)."""
    _check_shape(resource, resource_type)
    handler = _type_writer(resource_type)
    if resource.get("id") != resource_id:
        raise bad(
            f"The body's id ({resource.get('id')!r}) must be the id in the URL ({resource_id!r}).", "id"
        )
    writer_check(ctx)
    if handler.update is None:
        raise WriteError(405, "not-supported", handler.no_update)
    patient_id = _guarded(handler.prepare_update, ctx, resource_id, resource)
    with transaction.atomic() if atomic else _nothing():
        before = served(ctx, resource_type, resource_id)
        previous = versions.baseline(before, patient_id=patient_id)
        wanted = versions.if_match_version(if_match)
        if wanted is not None and wanted != str(previous.version):
            raise WriteError(
                412,
                "conflict",
                f"{resource_type}/{resource_id} is at version {previous.version}, not {wanted}: it was changed "
                "since you read it. Read it again and reapply your change.",
            )
        written = _guarded(handler.update, ctx, resource_id, resource, patient_id)
        return finish(
            ctx,
            written,
            resource,
            method=ResourceVersion.UPDATE,
            category=handler.category,
            previous=previous,
        )


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def denial_status(exc: Exception) -> tuple[int, str, str] | None:
    """(status, code, words) for the door's refusals: ActionDenied (sees the patient, may not do this) 403;
    Http404 (out of reach or no such resource) 404."""
    if isinstance(exc, ActionDenied):
        return (
            403,
            "forbidden",
            f"You do not have permission to {exc.action}."
            if getattr(exc, "action", "")
            else ("You do not have permission to do this."),
        )
    if isinstance(exc, Http404):
        return 404, "not-found", "Resource not found."
    return None
