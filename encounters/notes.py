"""Encounters and their notes: start an encounter, write, autosave and sign notes, addenda and amendment requests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record
from core.guarded import clean as _clean
from core.guarded import patient_id_of as _patient_id_of
from scheduling.models import Location

from . import selectors
from .models import (
    Addendum,
    AmendmentRequest,
    AmendmentStatus,
    Encounter,
    EncounterStatus,
    EncounterType,
    Note,
    NoteStatus,
    NoteTemplate,
)
from .services import _door, _save_guarded


# ------------------------------------------------------------------ encounters and notes
def encounter_start(
    *,
    actor,
    patient_id,
    encounter_type: str = EncounterType.OFFICE,
    reason: str = "",
    location: Location | None = None,
    request=None,
) -> Encounter:
    """Open an encounter without an appointment (walk-in, phone). Who: change_clinical on the patient."""
    patient = _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.ENCOUNTER,
        request=request,
    )
    enc = Encounter(
        patient=patient,
        encounter_type=encounter_type,
        reason=(reason or "").strip(),
        provider=actor,
        location=location,
        status=EncounterStatus.IN_PROGRESS,
        start=timezone.now(),
    )
    _clean(enc)
    _save_guarded(enc, force_insert=True)
    return enc


def encounter_for_write(*, actor, encounter_id, request=None, category=categories.ENCOUNTER) -> Encounter:
    try:
        enc = Encounter.objects.get(pk=encounter_id)
    except (Encounter.DoesNotExist, ValidationError, ValueError):
        raise Http404("No encounter found") from None
    enc.patient = _door(
        actor=actor, patient_id=enc.patient_id, perm=roles.CHANGE_CLINICAL, category=category, request=request
    )
    return enc


NOTE_SECTIONS = ("subjective", "objective", "assessment", "plan")


def note_create(*, actor, encounter_id, template_id=None, blank: bool = False, request=None) -> Note:
    """Start a draft SOAP note, pre-filled from the template the clinician chose (`template_id`), or from the
    first active template of the encounter's type unless `blank`."""
    enc = encounter_for_write(
        actor=actor, encounter_id=encounter_id, request=request, category=categories.CLINICAL_NOTE
    )
    template = None
    if template_id:
        template = selectors.note_template_get(template_id=template_id)
        if template is None:
            raise ValidationError({"template": "That note template does not exist or is no longer active."})
    elif not blank:
        template = NoteTemplate.objects.filter(encounter_type=enc.encounter_type, active=True).first()
    note = Note(encounter=enc, patient_id=enc.patient_id, author=actor)
    if template:
        for f in NOTE_SECTIONS:
            setattr(note, f, getattr(template, f))
    _save_guarded(note, force_insert=True)
    return note


class NoteConflict(ValidationError):
    """Someone else saved (or signed) the note since this editor loaded it. `current` is the note as stored, so
    the page can show both versions; the editor's own text is never discarded."""

    def __init__(self, message, *, current: Note | None = None):
        super().__init__(message)
        self.current = current


def _note_for_write(*, actor, note_id, request=None) -> Note:
    try:
        note = Note.objects.get(pk=note_id)
    except (Note.DoesNotExist, ValidationError, ValueError):
        raise Http404("No note found") from None
    note.patient = _door(
        actor=actor,
        patient_id=note.patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.CLINICAL_NOTE,
        request=request,
    )
    return note


def note_save_draft(*, actor, note_id, version: int, data: dict, request=None) -> Note:
    """Save a draft (autosave and the Save button). Optimistic locking: the row is locked and saved only if it is
    still at `version` and a draft, so a concurrent save or a signature makes this one fail with a NoteConflict
    carrying the stored note, instead of silently overwriting it. Saving text identical to what is stored is not a
    conflict (an autosave that landed just before the Save button). The save goes through save(), so
    django-auditlog records every draft version."""
    _note_for_write(actor=actor, note_id=note_id, request=request)
    with transaction.atomic():
        note = Note.objects.select_for_update().get(pk=note_id)
        values = {f: str(data.get(f, getattr(note, f)) or "")[:20000] for f in NOTE_SECTIONS}
        same = all(getattr(note, f) == v for f, v in values.items())
        if note.signed:
            raise NoteConflict(
                "This note has been signed; it can no longer be edited. Add an addendum instead.",
                current=note,
            )
        if note.version != version:
            if same:
                return note
            raise NoteConflict(
                f"Someone else saved this note since you opened it (now version {note.version}). Your text has not "
                "been saved and is still in the form; compare it with the saved version, then keep yours or "
                "reload theirs.",
                current=note,
            )
        if same:
            return note
        for f, v in values.items():
            setattr(note, f, v)
        note.version += 1
        note.save(update_fields=[*NOTE_SECTIONS, "version", "updated_at"])
    return note


def note_hash(note: Note) -> str:
    payload = json.dumps(
        {
            "note": str(note.pk),
            "encounter": str(note.encounter_id),
            "patient": str(note.patient_id),
            **{f: getattr(note, f) for f in NOTE_SECTIONS},
            "signed_by": note.signed_by_id,
            # In UTC: the same instant read back from the database must give the same hash.
            "signed_at": note.signed_at.astimezone(UTC).isoformat(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def note_sign(*, actor, note_id, version: int, request=None) -> Note:
    """Sign the note as it stands at `version`: it is locked and its SHA-256 recorded. Who: the author, or the
    encounter's provider, holding change_clinical. Afterwards only addenda."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    with transaction.atomic():
        note = Note.objects.select_for_update(of=("self",)).select_related("encounter").get(pk=note.pk)
        if note.signed:
            raise NoteConflict("This note is already signed.", current=note)
        if note.version != version:
            raise NoteConflict(
                "The note changed since you opened it; review the latest version before signing.",
                current=note,
            )
        if actor.pk not in (note.author_id, note.encounter.provider_id):
            raise PermissionDenied("Only the author or the encounter's provider signs this note.")
        if not any(getattr(note, f).strip() for f in NOTE_SECTIONS):
            raise ValidationError("An empty note cannot be signed.")
        note.status, note.signed_by, note.signed_at = NoteStatus.SIGNED, actor, timezone.now()
        note.content_hash = note_hash(note)
        note.version += 1
        _clean(note)
        note.save(update_fields=["status", "signed_by", "signed_at", "content_hash", "version", "updated_at"])
        access_record(
            actor=actor,
            action=Action.SIGN,
            category=categories.CLINICAL_NOTE,
            patient_id=note.patient_id,
            request=request,
            detail={"note": str(note.pk), "sha256": note.content_hash},
        )
    return note


def addendum_add(*, actor, note_id, text: str, request=None) -> Addendum:
    """Append to a signed note (the signed text itself never changes)."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    text = (text or "").strip()
    if not note.signed:
        raise ValidationError("The note is still a draft: edit it instead of adding an addendum.")
    if not text:
        raise ValidationError({"text": "Write the addendum."})
    add = Addendum(
        note=note,
        patient_id=note.patient_id,
        author=actor,
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )
    _save_guarded(add, force_insert=True)
    return add


def amendment_request_record(*, actor, note_id, requested_text: str, request=None) -> AmendmentRequest:
    """Record a patient's request to amend a signed note (ONC 170.315(d)(4)). A draft is not yet part of the
    record: it is edited, not amended."""
    note = _note_for_write(actor=actor, note_id=note_id, request=request)
    if not note.signed:
        raise ValidationError("Only a signed note can be amended; this one is still a draft.")
    text = (requested_text or "").strip()
    if not text:
        raise ValidationError({"requested_text": "Write what the patient asks to change."})
    am = AmendmentRequest(patient_id=note.patient_id, note=note, requested_text=text, received_by=actor)
    _save_guarded(am, force_insert=True)
    return am


def amendment_decide(
    *, actor, amendment_id, accept: bool, reason: str = "", request=None
) -> AmendmentRequest:
    """Accept (the amendment is appended to the note as an addendum, linked) or deny (with the reason, which
    stays linked to the record). The request row is locked, so two people deciding at once cannot both win."""
    patient_id = _patient_id_of(AmendmentRequest, amendment_id, "amendment request")
    _door(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_CLINICAL,
        category=categories.CLINICAL_NOTE,
        request=request,
    )
    reason = (reason or "").strip()
    if not accept and not reason:
        raise ValidationError({"decision_reason": "A denial must give the reason."})
    with transaction.atomic():
        am = AmendmentRequest.objects.select_for_update().get(pk=amendment_id)
        if am.status != AmendmentStatus.REQUESTED:
            raise ValidationError("This request has already been decided.")
        if accept:
            am.addendum = addendum_add(
                actor=actor,
                note_id=am.note_id,
                request=request,
                text=f"Amendment at the patient's request (accepted): {am.requested_text}",
            )
        am.status = AmendmentStatus.ACCEPTED if accept else AmendmentStatus.DENIED
        am.decision_reason, am.decided_by, am.decided_at = reason, actor, timezone.now()
        am.save(update_fields=["addendum", "status", "decision_reason", "decided_by", "decided_at"])
    return am


def note_encounter_id(note_id):
    """For redirects after a refused write (the caller was already checked by the service)."""
    eid = Note.objects.filter(pk=note_id).values_list("encounter_id", flat=True).first()
    if eid is None:
        raise Http404("No note found")
    return eid
