"""The duplicate check at registration: existing patients scored against what is being registered (whoever may
see them: a duplicate must be caught even outside the user's department; what the user is shown of each is decided
by services.patient_register and its template)."""

from __future__ import annotations

from dataclasses import dataclass

from . import crypto
from .models import Patient
from .selectors import normalise_name

DUPLICATES_SHOWN = 3  # enough to recognise a duplicate; few enough that the check cannot be used to browse


@dataclass
class Candidate:
    patient: Patient
    score: int
    reasons: list[str]
    visible: bool = False  # the registering user may already see this record (then it is shown in full)
    # The typed name or date of birth matched too, not only an identifier: only then are initials and birth year
    # of a record outside the user's access shown (an SSN alone must not reveal whose it is).
    person_matched: bool = False

    @property
    def initials(self) -> str:
        return f"{self.patient.given_name[:1]}. {self.patient.family_name[:1]}.".upper()


class DuplicatesFound(Exception):
    def __init__(self, candidates: list[Candidate]):
        super().__init__("possible duplicates")
        self.candidates = candidates


@dataclass(frozen=True)
class _DuplicateKeys:
    """What a registration is compared on: the accent-free full and family names, the identifiers' blind indexes,
    date of birth and sex."""

    name: str
    family: str
    ssn_bidx: str
    dl_bidx: str
    phones: frozenset[str]
    birth_date: object
    sex: object

    @classmethod
    def of(cls, data: dict) -> _DuplicateKeys:
        return cls(
            name=normalise_name(f"{data.get('given_name', '')} {data.get('family_name', '')}"),
            family=normalise_name(data.get("family_name", "")),
            ssn_bidx=crypto.blind_index("ssn", crypto.digits(data.get("ssn") or "")),
            dl_bidx=crypto.blind_index("dl", crypto.licence(data.get("drivers_license") or "")),
            phones=frozenset(
                crypto.blind_index("phone", crypto.normalise_phone(p.get("value", "")))
                for p in (data.get("phones") or [])
                if crypto.digits(p.get("value", ""))
            ),
            birth_date=data.get("birth_date"),
            sex=data.get("sex_at_birth"),
        )


def _duplicate_condition(keys: _DuplicateKeys):
    """Which rows may be a duplicate at all: a similar name with the same birth date or sex, any shared identifier,
    or the same birth date and a similar family name."""
    from django.contrib.postgres.lookups import TrigramSimilar, TrigramWordSimilar
    from django.db.models import F, Q, Value

    # Lookup expressions, not the `__trigram_similar` shorthand (that needs django.contrib.postgres installed).
    similar = Q(TrigramSimilar(F("name_search"), Value(keys.name)))
    cond = similar & Q(birth_date=keys.birth_date)
    cond |= similar & Q(sex_at_birth=keys.sex)
    if keys.ssn_bidx:
        cond |= Q(ssn_bidx=keys.ssn_bidx)
    if keys.dl_bidx:
        cond |= Q(drivers_license_bidx=keys.dl_bidx)
    if keys.phones:
        cond |= Q(phone_bidx__overlap=list(keys.phones))
    if keys.family and keys.birth_date:
        cond |= Q(birth_date=keys.birth_date) & Q(TrigramWordSimilar(F("name_search"), Value(keys.family)))
    return cond


# What each shared fact scores (see duplicate_candidates), with the reason shown; the name's share is graded.
_DUPLICATE_FACTS = (
    (50, "same SSN", lambda p, k: bool(k.ssn_bidx) and p.ssn_bidx == k.ssn_bidx),
    (50, "same driver's licence", lambda p, k: bool(k.dl_bidx) and p.drivers_license_bidx == k.dl_bidx),
    (25, "same date of birth", lambda p, k: bool(k.birth_date) and p.birth_date == k.birth_date),
    (20, "same phone", lambda p, k: bool(k.phones & set(p.phone_bidx))),
)


def _duplicate_score(p: Patient, keys: _DuplicateKeys) -> Candidate | None:
    """One row scored against the registration; None below the threshold."""
    score, reasons = 0, []
    for points, reason, holds in _DUPLICATE_FACTS:
        if holds(p, keys):
            score += points
            reasons.append(reason)
    if p.sim >= 0.3:
        score += round(30 * min(1.0, p.sim / 0.8))
        reasons.append(f"similar name ({p.sim:.0%})")
    if keys.sex and p.sex_at_birth == keys.sex:
        score += 5
    if score < 45:
        return None
    matched = p.sim >= 0.3 or bool(keys.birth_date and p.birth_date == keys.birth_date)
    return Candidate(p, min(score, 100), reasons, person_matched=matched)


def duplicate_candidates(*, data: dict, exclude_id=None, limit: int = DUPLICATES_SHOWN) -> list[Candidate]:
    """Score existing patients against a registration: name (fuzzy, accent-free), DOB, sex, phone, SSN, driver's
    licence.

    Scoring (max 100): SSN match 50; driver's licence 50; DOB 25; phone 20; full-name similarity up to 30; sex 5.
    Shown from 45 up, at most `limit`. Searches every patient, whoever may see them: a duplicate must be caught
    even outside the user's department. What the user is shown of each is decided by patient_register.
    """
    from django.contrib.postgres.search import TrigramSimilarity

    keys = _DuplicateKeys.of(data)
    qs = (
        Patient.objects.filter(_duplicate_condition(keys), merged_into__isnull=True)
        .annotate(sim=TrigramSimilarity("name_search", keys.name))
        .order_by("-sim")[:50]
    )
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    out = [c for c in (_duplicate_score(p, keys) for p in qs) if c is not None]
    out.sort(key=lambda c: -c.score)
    return out[:limit]
