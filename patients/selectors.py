"""Every read of patient data goes through here: check the object permission, record the access, return.

Callers: views, admin, the FHIR API, tasks, and other apps' selectors (which pass their own data category).
An outsider gets Http404 — the same answer as for a patient that does not exist — and the attempt is recorded.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.postgres.lookups import TrigramWordSimilar
from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.http import Http404

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record, access_record_denied

from . import crypto
from .access import PatientAccess, patient_access_for, visible_patients
from .models import CareTeamMember, Patient


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def patient_get(
    *,
    actor,
    patient_id,
    perm: str = roles.VIEW_DEMOGRAPHICS,
    category: str | None = categories.DEMOGRAPHICS,
    request=None,
    action: str = Action.VIEW,
    record: bool = True,
) -> Patient:
    """The patient, if `actor` holds `perm` on them; else Http404 (and a denied event).

    The returned patient carries `.access` (a PatientAccess) so pages can show only what the user may use.
    `record=False` is for services, which record their own write event instead of a read.
    """
    pid = _as_uuid(patient_id)
    access = patient_access_for(actor, pid) if pid else None
    if category is None:  # the chart page: what it shows depends on what the user may see
        category = categories.CHART_SUMMARY if access and access.clinical else categories.DEMOGRAPHICS
    if access is None or not access.has(perm):
        access_record_denied(actor=actor, category=category, patient_id=pid, request=request,
                             detail={"needed": perm})
        raise Http404("No patient found")
    try:
        patient = Patient.objects.select_related("department").get(pk=pid)
    except Patient.DoesNotExist:
        raise Http404("No patient found") from None
    patient.access = access
    if record:
        access_record(actor=actor, action=action, category=category, patient_id=patient.pk, request=request,
                      break_glass=access.break_glass)
    return patient


def patient_access(*, actor, patient_id) -> PatientAccess:
    """What `actor` may do on the patient, without recording a read (for menus and buttons only)."""
    pid = _as_uuid(patient_id)
    return patient_access_for(actor, pid) if pid else PatientAccess()


def care_team_list(*, patient: Patient) -> list[CareTeamMember]:
    """The care team of a patient already fetched through patient_get (which recorded the access)."""
    return list(CareTeamMember.objects.filter(patient=patient).select_related("user", "group", "user__practitioner")
                .order_by("added_at"))


# ---------------------------------------------------------------- search
def normalise_name(text: str) -> str:
    """Lower-case, accents removed (José -> jose), punctuation to spaces: what name_search stores."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def name_search_text(*, given: str, middle: str = "", family: str, preferred: str = "", previous=()) -> str:
    parts = [given, middle, family, preferred]
    for p in previous or ():
        parts += [p.get("given", ""), p.get("family", "")]
    return normalise_name(" ".join(x for x in parts if x))


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%d.%m.%Y", "%Y%m%d", "%b %d %Y", "%d %b %Y",
                 "%B %d %Y", "%d %B %Y")


def parse_date(text: str) -> date | None:
    text = text.strip().replace(",", "")
    for fmt in _DATE_FORMATS:
        try:
            d = datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a calendar date, no time zone)
        except ValueError:
            continue
        if fmt == "%m/%d/%y" and d > date.today():
            d = d.replace(year=d.year - 100)  # 01/02/45 is 1945 for a birth date
        return d
    return None


@dataclass
class ParsedQuery:
    mrn: str | None = None
    birth_date: date | None = None
    phone_bidx: str | None = None
    terms: tuple[str, ...] = ()


def parse_query(q: str) -> ParsedQuery:
    q = (q or "").strip()[:200]
    out = ParsedQuery()
    if re.fullmatch(r"\d{8}", q):
        out.mrn = q
        return out
    d = parse_date(q)
    if d:
        out.birth_date = d
        return out
    if re.fullmatch(r"[\d\s().+-]{7,}", q) and len(crypto.digits(q)) >= 7:
        out.phone_bidx = crypto.blind_index("phone", crypto.normalise_phone(q))
        return out
    # Mixed: "smith 1970-03-02" or "03/02/1970 john"
    terms = []
    for tok in q.split():
        d = parse_date(tok)
        if d and out.birth_date is None:
            out.birth_date = d
        elif re.fullmatch(r"\d{8}", tok):
            out.mrn = tok
        else:
            norm = normalise_name(tok)
            terms += [t for t in norm.split() if t]
    out.terms = tuple(terms[:6])
    return out


def patient_search_queryset(*, actor, q: str) -> QuerySet[Patient]:
    """Ranked candidates among the patients `actor` may see. Name fragments in any order, typos tolerated.

    The trigram operators are used as lookup expressions (TrigramWordSimilar(...)) rather than the
    `__trigram_word_similar` shorthand, which exists only when django.contrib.postgres is in INSTALLED_APPS.
    """
    parsed = parse_query(q)
    qs = visible_patients(actor, roles.VIEW_DEMOGRAPHICS)
    if parsed.mrn:
        qs = qs.filter(mrn=parsed.mrn)
    if parsed.birth_date:
        qs = qs.filter(birth_date=parsed.birth_date)
    if parsed.phone_bidx:
        qs = qs.filter(phone_bidx__contains=[parsed.phone_bidx])
    if parsed.terms:
        scores = []
        for t in parsed.terms:
            # Prefix/substring hits (fast, trigram GIN) or a close word (typo): `word <% name_search`.
            cond = Q(name_search__contains=t)
            if len(t) >= 3:
                cond |= Q(TrigramWordSimilar(F("name_search"), Value(t)))
            qs = qs.filter(cond)
            scores.append(TrigramWordSimilarity(Value(t), "name_search"))
        rank = scores[0] if len(scores) == 1 else sum(scores[1:], scores[0])
        qs = qs.annotate(rank=rank).order_by("-rank", "family_name", "given_name")
    elif not (parsed.mrn or parsed.birth_date or parsed.phone_bidx):
        return qs.none()
    else:
        qs = qs.order_by("family_name", "given_name")
    return qs


TYPO_THRESHOLD = "0.5"


def patient_search(*, actor, q: str, request=None, limit: int = 20, offset: int = 0) -> tuple[list[Patient], bool]:
    """One page of results and whether there are more. Records one list event naming the patients shown."""
    qs = patient_search_queryset(actor=actor, q=q).only(
        "id", "mrn", "given_name", "middle_name", "family_name", "preferred_name", "birth_date", "sex_at_birth",
        "deceased_date", "allergy_status",
    )[offset:offset + limit + 1]
    with transaction.atomic(), connection.cursor() as cur:
        # pg_trgm's default word-similarity threshold (0.6) misses one transposition in a short name
        # ("garcai" ~ "garcia" scores 0.57); 0.5 catches it and still excludes "garza". Local to this transaction.
        cur.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", [TYPO_THRESHOLD])
        rows = list(qs)
    more = len(rows) > limit
    rows = rows[:limit]
    if rows or q:
        access_record(actor=actor, action=Action.LIST, category=categories.PATIENT_LIST,
                      patient_ids=[p.pk for p in rows], request=request, detail={"query_kind": _kind(q)})
    return rows, more


def _kind(q: str) -> str:
    p = parse_query(q)
    return "mrn" if p.mrn else "dob" if p.birth_date and not p.terms else "phone" if p.phone_bidx else "name"



