"""Closing a visit: its diagnoses (ICD-10-CM, ranked, rank 1 the primary) and finishing it once its parts agree
(at least one note, every note signed, a primary diagnosis). The flow board's checkout finishes it too when they do
(encounters/flow.py); otherwise it stays open for the clinician, who is told what is missing."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit import categories

from .models import EncounterDiagnosis, EncounterStatus, Icd10Code, NoteStatus
from .notes import encounter_for_write
from .services import _save_guarded


def _open_encounter(*, actor, encounter_id, request=None):
    enc = encounter_for_write(
        actor=actor, encounter_id=encounter_id, request=request, category=categories.ENCOUNTER
    )
    if enc.status != EncounterStatus.IN_PROGRESS:
        raise ValidationError(
            f"This visit is {enc.get_status_display().lower()}; its diagnoses cannot change."
        )
    return enc


def _icd10(code: str) -> Icd10Code:
    code = (code or "").strip().upper()
    if len(code) > 3 and "." not in code:
        code = f"{code[:3]}.{code[3:]}"
    icd = Icd10Code.objects.filter(pk=code).first()
    if icd is None:
        raise ValidationError(
            {"code": f"\u201c{code}\u201d is not an ICD-10-CM code. Search by description."}
        )
    return icd


def diagnosis_add(*, actor, encounter_id, code: str, request=None) -> EncounterDiagnosis:
    """Link a diagnosis to the visit, after those already there (the first one is the primary)."""
    enc = _open_encounter(actor=actor, encounter_id=encounter_id, request=request)
    icd = _icd10(code)
    with transaction.atomic():
        type(enc).objects.select_for_update().filter(pk=enc.pk).first()  # one writer of the ranks at a time
        if EncounterDiagnosis.objects.filter(encounter=enc, code=icd).exists():
            raise ValidationError({"code": f"{icd.code} is already a diagnosis of this visit."})
        last = EncounterDiagnosis.objects.filter(encounter=enc).aggregate(m=Max("rank"))["m"] or 0
        dx = EncounterDiagnosis(encounter=enc, code=icd, rank=last + 1, added_by=actor)
        _save_guarded(dx, force_insert=True)
    return dx


def _rerank(enc, ordered: list[EncounterDiagnosis]) -> None:
    """Write ranks 1..n in `ordered` order (the unique rank constraint is checked at commit)."""
    for i, dx in enumerate(ordered, start=1):
        if dx.rank != i:
            dx.rank = i
            _save_guarded(dx, update_fields=["rank"])


def diagnosis_change(*, actor, encounter_id, diagnosis_id, action: str, request=None) -> None:
    """'primary' moves a diagnosis to rank 1 (the others keep their order after it); 'remove' unlinks it."""
    enc = _open_encounter(actor=actor, encounter_id=encounter_id, request=request)
    if action not in ("primary", "remove"):
        raise ValidationError("Unknown change to a diagnosis.")
    with transaction.atomic():
        type(enc).objects.select_for_update().filter(pk=enc.pk).first()
        rows = list(EncounterDiagnosis.objects.filter(encounter=enc).order_by("rank"))
        target = next((d for d in rows if str(d.pk) == str(diagnosis_id)), None)
        if target is None:
            raise ValidationError("That diagnosis is not linked to this visit.")
        rest = [d for d in rows if d is not target]
        if action == "remove":
            target.delete()
            _rerank(enc, rest)
        else:
            _rerank(enc, [target, *rest])


def finish_problems(enc) -> list[str]:
    """Why the visit cannot be finished yet (empty: it can), in words for the clinician."""
    problems = []
    statuses = list(enc.notes.values_list("status", flat=True))
    if not statuses:
        problems.append("Write and sign the visit note.")
    elif any(s != NoteStatus.SIGNED for s in statuses):
        problems.append("Sign the visit note (a draft is still open).")
    if not enc.diagnoses.filter(rank=1).exists():
        problems.append("Add at least one diagnosis (the first is the primary).")
    return problems


def finish_now(enc) -> None:
    """Mark an encounter finished (the caller holds its row and checked finish_problems)."""
    enc.end, enc.status = max(timezone.now(), enc.start), EncounterStatus.FINISHED
    _save_guarded(enc, update_fields=["end", "status"])


def encounter_finish(*, actor, encounter_id, request=None):
    """Finish the visit: refused, with every reason, while a note is unsigned or no diagnosis is linked."""
    enc = encounter_for_write(
        actor=actor, encounter_id=encounter_id, request=request, category=categories.ENCOUNTER
    )
    with transaction.atomic():
        locked = type(enc).objects.select_for_update().get(pk=enc.pk)
        if locked.status != EncounterStatus.IN_PROGRESS:
            raise ValidationError(f"This visit is already {locked.get_status_display().lower()}.")
        problems = finish_problems(locked)
        if problems:
            raise ValidationError(["The visit cannot be finished yet.", *problems])
        finish_now(locked)
    return locked
