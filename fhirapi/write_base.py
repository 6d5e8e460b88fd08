"""The shape every writable type shares (fhirapi/write_types.py, fhirapi/write_rx.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from accounts import roles
from audit import categories
from core.guarded import patient_id_of

from .values import Invalid, Refs
from .writing import (
    WriteContext,
    WriteError,
    door,
    from_invalid,
    from_validation,
    patient_reference,
    unprocessable,
)


def parsed(fn, r: dict):
    try:
        return fn(r, Refs())
    except Invalid as exc:
        raise from_invalid(exc) from None


def unchanged(path: str, sent, stored, what: str) -> None:
    if sent != stored:
        raise unprocessable(f"{path} cannot be changed by an update ({what}).", path)


class TypeWriter:
    name = ""
    subject = "subject"  # the element naming the patient
    perm = roles.CHANGE_CLINICAL
    category = categories.FHIR
    paths: dict[str, str] = {}
    default_path: str | None = None
    no_update = "This type is created through the API, not updated."
    model = None  # for updates: the table whose row the id names
    update = None  # a method (ctx, id, resource, patient_id) -> Written where updates are supported

    def refusal(self, exc: ValidationError) -> WriteError:
        return from_validation(exc, self.paths, self.default_path)

    def prepare_create(self, ctx: WriteContext, r: dict):
        pid = patient_reference(r, self.subject)
        door(ctx, pid, perm=self.perm, category=self.category)
        return pid

    def patient_of(self, rid: str):
        return patient_id_of(self.model, rid, self.name)

    def prepare_update(self, ctx: WriteContext, rid: str, r: dict):
        pid = self.patient_of(rid)
        door(ctx, pid, perm=self.perm, category=self.category)
        if self.subject and str(patient_reference(r, self.subject)) != str(pid):
            raise unprocessable(
                f"{self.name}.{self.subject} cannot be moved to another patient.",
                f"{self.name}.{self.subject}",
            )
        return pid

    def call(self, fn, **kwargs):
        try:
            return fn(**kwargs)
        except ValidationError as exc:
            raise self.refusal(exc) from None
