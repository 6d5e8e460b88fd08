"""Every read of patient data goes through here: check the object permission, record the access, return.

Callers: views, admin, the FHIR API, tasks, and other apps' selectors (which pass their own data category).
An outsider gets Http404 — the same answer as for a patient that does not exist — and the attempt is recorded.
"""

from __future__ import annotations

import contextlib
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.lookups import TrigramWordSimilar
from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection, transaction
from django.db.models import F, Func, IntegerField, Q, QuerySet, TextField, Value
from django.db.models.functions import Length
from django.http import Http404

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record, access_record_denied
from core.exceptions import ActionDenied
from core.prepared import SENTINEL_ID, Prepared

from . import crypto
from .access import (
    PatientAccess,
    administered_patients,
    grants_clinical_access,
    may_grant_clinical_access,
    patient_access_for,
    patient_fetch,
    visible_patients,
)
from .denials import action_words
from .models import CareTeamMember, Patient, PatientNameVocabulary, PatientNameWord
from .mrn import mrn_is_valid


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
    """The patient, if `actor` holds `perm` on them; else Http404 (and a denied event). A user who may see the
    patient (view_demographics) but lacks `perm` gets core.exceptions.ActionDenied instead (the 403 page, which
    names the action in plain words: patients/denials.py); it is an Http404 to callers that do not know it.

    The returned patient carries `.access` (a PatientAccess) so pages can show only what the user may use.
    `record=False` is for services, which record their own write event instead of a read.
    """
    pid = _as_uuid(patient_id)
    # One round trip reads the row and the user's grants on it (access.patient_fetch); the row is handed out only
    # once the permission is there.
    patient, access = patient_fetch(actor, pid) if pid else (None, None)
    if category is None:  # the chart page: what it shows depends on what the user may see
        category = categories.CHART_SUMMARY if access and access.clinical else categories.DEMOGRAPHICS
    if patient is None or access is None or not access.has(perm):
        access_record_denied(
            actor=actor, category=category, patient_id=pid, request=request, detail={"needed": perm}
        )
        if patient is not None and access is not None and access.has(roles.VIEW_DEMOGRAPHICS):
            # The user may see this patient but not do this: say so (403 page, with the banner).
            patient.access = access
            raise ActionDenied(action_words(perm, category), patient=patient)
        raise Http404("No patient found")
    patient.access = access
    if record:
        access_record(
            actor=actor,
            action=action,
            category=category,
            patient_id=patient.pk,
            request=request,
            break_glass=access.break_glass,
        )
    return patient


def patient_access(*, actor, patient_id) -> PatientAccess:
    """What `actor` may do on the patient, without recording a read (for menus and buttons only)."""
    pid = _as_uuid(patient_id)
    return patient_access_for(actor, pid) if pid else PatientAccess()


def patient_get_for_care_team(*, actor, patient_id, request=None, record: bool = True) -> Patient:
    """The patient, if `actor` may manage its care team: holds change_demographics on the patient, or is a practice
    admin of the patient's department (who sees the patient's identity only, for this purpose). Else Http404 and
    a denied event. Records a CARE_TEAM access unless record=False (services record their own write)."""
    pid = _as_uuid(patient_id)
    access = patient_access_for(actor, pid) if pid else None
    if pid is None or access is None or not access.can_manage_care_team:
        access_record_denied(
            actor=actor,
            category=categories.CARE_TEAM,
            patient_id=pid,
            request=request,
            detail={"needed": "care team management"},
        )
        raise Http404("No patient found")
    try:
        patient = Patient.objects.select_related("department").get(pk=pid)
    except Patient.DoesNotExist:
        raise Http404("No patient found") from None
    patient.access = access
    if record:
        access_record(
            actor=actor,
            action=Action.VIEW,
            category=categories.CARE_TEAM,
            patient_id=patient.pk,
            request=request,
        )
    return patient


# Compiled once per process (core/prepared.py): every chart page draws the care team.
_CARE_TEAM = Prepared(
    lambda patient_id: (
        CareTeamMember.objects.filter(patient_id=patient_id)
        .select_related("user", "group", "user__practitioner")
        .annotate(
            role_names=ArrayAgg(
                "user__groups__name", distinct=True, filter=Q(user__groups__name__in=list(roles.ROLES))
            )
        )
        .order_by("added_at")
    ),
    patient_id=SENTINEL_ID,
)


def care_team_list(*, actor, patient: Patient) -> list[CareTeamMember]:
    """The care team of a patient already fetched through the door (which recorded the access). Each member
    carries `.removable`: whether `actor` may take them off the team (see access.may_grant_clinical_access)."""
    members = _CARE_TEAM(patient_id=patient.pk)
    access = getattr(patient, "access", None) or patient_access_for(actor, patient.pk)
    clinical_ok = may_grant_clinical_access(actor, access)
    for m in members:
        if m.user is not None:
            m.user._role_names = set(m.role_names or ())  # roles.user_roles' cache: no query per member
        m.removable = access.can_manage_care_team and (
            clinical_ok or not grants_clinical_access(user=m.user, group=m.group)
        )
    return members


# The staff a care team can be given (active users with a care role, and teams) is the same for every chart: kept
# per process for STAFF_CACHE_SECONDS, and forgotten whenever a user, a group or a membership changes in this
# process (care_team_staff_forget, connected in apps.py). The list only fills a form's choices: care_team_add checks
# the chosen member again (active, roles, who may grant clinical access), so a stale entry can grant nothing.
STAFF_CACHE_SECONDS = 30
# "staff" -> (expires at, monotonic clock; the users; the groups)
_staff_cache: dict[str, tuple[float, list[tuple[int, str, bool]], list[tuple[int, str]]]] = {}


def care_team_staff_forget(**_kwargs) -> None:
    _staff_cache.clear()


def _care_team_staff() -> tuple[list[tuple[int, str, bool]], list[tuple[int, str]]]:
    """([(user id, label, gets clinical access)], [(group id, label)]) in display order. Two queries, or none."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    cached = _staff_cache.get("staff")
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    care_roles = [roles.Role.CLINICIAN, roles.Role.NURSE, roles.Role.FRONT_DESK]
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=care_roles)
        .annotate(role_names=ArrayAgg("groups__name", distinct=True))
        .order_by("last_name", "first_name", "username")
    )
    staff = []
    for u in users:
        held = [r for r in care_roles if r in u.role_names]
        label = ", ".join(roles.ROLES[r].label for r in held)
        staff.append(
            (
                u.pk,
                f"{u.get_full_name() or u.username} ({u.username}) — {label}",
                roles.VIEW_CLINICAL in roles.patient_permissions_for_roles(held),
            )
        )
    teams = [
        (g.pk, f"{g.name} — team (each member within their own role)")
        for g in Group.objects.exclude(name__in=list(roles.ROLES)).order_by("name")
    ]
    _staff_cache["staff"] = (time.monotonic() + STAFF_CACHE_SECONDS, staff, teams)
    return staff, teams


def care_team_candidates(
    *, actor, patient: Patient, members: list[CareTeamMember] | None = None
) -> list[tuple[str, str]]:
    """Choices for "add to the care team": active staff with a care role (clinician, nurse, front desk) and teams
    (groups that are not role groups), minus current members; only those `actor` may add (front desk: non-clinical
    staff only). Values are "user:<id>" / "group:<id>"; labels name the role. `members`: the team as
    care_team_list returned it (saves reading it again)."""
    access = getattr(patient, "access", None) or patient_access_for(actor, patient.pk)
    if not access.can_manage_care_team:
        return []
    clinical_ok = may_grant_clinical_access(actor, access)
    if members is None:
        members = list(CareTeamMember.objects.filter(patient=patient))
    on_users = {m.user_id for m in members if m.user_id}
    on_groups = {m.group_id for m in members if m.group_id}
    staff, teams = _care_team_staff()
    out = [
        (f"user:{pk}", label)
        for pk, label, clinical in staff
        if pk not in on_users and (clinical_ok or not clinical)
    ]
    if clinical_ok:
        out += [(f"group:{pk}", label) for pk, label in teams if pk not in on_groups]
    return out


def care_team_member_get(*, kind: str, pk: int):
    """The active user or the group a care-team form names, or None."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    if kind == "user":
        return get_user_model().objects.filter(pk=pk, is_active=True).first()
    if kind == "group":
        return Group.objects.exclude(name__in=list(roles.ROLES)).filter(pk=pk).first()
    return None


def patient_get_administered(*, actor, patient_id, request=None) -> Patient:
    """For the admin site: the patient if `actor` may see its demographics, or (practice admins) administers its
    care team; records one access event (demographics, or care team). Outsiders: Http404 and a denied event."""
    pid = _as_uuid(patient_id)
    access = patient_access_for(actor, pid) if pid else None
    if access is not None and access.has(roles.VIEW_DEMOGRAPHICS):
        return patient_get(actor=actor, patient_id=pid, request=request)
    return patient_get_for_care_team(actor=actor, patient_id=pid, request=request)


def admin_patients(user) -> QuerySet[Patient]:
    """The admin site's patient list: what the user may see, plus (practice admins) their departments' patients."""
    return visible_patients(user, roles.VIEW_DEMOGRAPHICS) | administered_patients(user)


def care_team_members() -> QuerySet[CareTeamMember]:
    """Care-team rows for the admin's inline, which narrows them to a patient fetched through the door above."""
    return CareTeamMember.objects.select_related("user", "group")


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


_DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m-%d-%Y",
    "%m/%d/%y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%m%d%Y",
    "%b %d %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%d %B %Y",
)
EARLIEST_BIRTH_YEAR = 1890


def parse_date(text: str) -> date | None:
    """A date of birth in a common format, or None. Only plausible ones (1890 .. today): "20251399" is not one."""
    text = text.strip().replace(",", "")
    for fmt in _DATE_FORMATS:
        try:
            d = datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a calendar date, no time zone)
        except ValueError:
            continue
        if fmt == "%m/%d/%y" and d > date.today():
            d = d.replace(year=d.year - 100)  # 01/02/45 is 1945 for a birth date
        if d.year >= EARLIEST_BIRTH_YEAR and d <= date.today():
            return d
    return None


@dataclass
class ParsedQuery:
    """What a query may mean. A bare number can be several things at once (19700302 is a valid date and could
    be an MRN): `alternatives` says so, and the search then matches any of them."""

    mrn: str | None = None
    birth_date: date | None = None
    phone_bidx: str | None = None
    terms: tuple[str, ...] = ()
    alternatives: bool = False


def _looks_like_mrn(text: str) -> bool:
    return mrn_is_valid(text)


def parse_query(q: str) -> ParsedQuery:
    q = (q or "").strip()[:200]
    out = ParsedQuery()
    if re.fullmatch(r"\d{7,12}", q):
        # A bare number: an MRN (Luhn check digit), a date of birth typed without separators, or a phone number.
        out.mrn = q if _looks_like_mrn(q) else None
        out.birth_date = parse_date(q) if len(q) == 8 else None
        if len(q) in (7, 10, 11):
            out.phone_bidx = crypto.blind_index("phone", crypto.normalise_phone(q))
        out.alternatives = True
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
        elif tok.isdigit() and _looks_like_mrn(tok):
            out.mrn = tok
        else:
            norm = normalise_name(tok)
            terms += [t for t in norm.split() if t]
    out.terms = tuple(terms[:6])
    return out


def patient_search_queryset(*, actor, q: str, parsed: ParsedQuery | None = None) -> QuerySet[Patient]:
    """Ranked candidates among the patients `actor` may see. Name fragments in any order, typos tolerated.

    The trigram operators are used as lookup expressions (TrigramWordSimilar(...)) rather than the
    `__trigram_word_similar` shorthand, which exists only when django.contrib.postgres is in INSTALLED_APPS.
    """
    parsed = parsed or parse_query(q)
    qs = visible_patients(actor, roles.VIEW_DEMOGRAPHICS)
    if parsed.alternatives:
        either = Q(pk__in=[])
        if parsed.mrn:
            either |= Q(mrn=parsed.mrn)
        if parsed.birth_date:
            either |= Q(birth_date=parsed.birth_date)
        if parsed.phone_bidx:
            either |= Q(phone_bidx__contains=[parsed.phone_bidx])
        return qs.filter(either).order_by("family_name", "given_name")
    if parsed.mrn:
        qs = qs.filter(mrn=parsed.mrn)
    if parsed.birth_date:
        qs = qs.filter(birth_date=parsed.birth_date)
    if parsed.phone_bidx:
        qs = qs.filter(phone_bidx__contains=[parsed.phone_bidx])
    if parsed.terms:
        scores = []
        for t in parsed.terms:
            # A fragment of up to four letters is a name being typed: substring hits only (trigram GIN). A typo in
            # it shares too few trigrams to reach the threshold (jonh ~ john: 0.25), so a typo arm would only
            # re-find the substring hits at the cost of a similarity recheck on every row.
            if len(t) >= TYPO_MIN_LENGTH:
                # Inside a word or a close word (`word %> t`), looked up in the vocabulary of distinct name words
                # rather than rechecked on every patient row sharing a trigram with it (854 rows for "caazres" at
                # 1M patients; docs/benchmark.md); the words found lead to their patients through the word table.
                # A term has no spaces, so a substring of the names is a substring of one of their words.
                words = _vocabulary_matches(t).values("word")
                cond = Q(pk__in=PatientNameWord.objects.filter(word__in=words).values("patient_id"))
            else:
                cond = Q(name_search__contains=t)
            qs = qs.filter(cond)
            scores.append(TrigramWordSimilarity(t, "name_search"))
        rank = scores[0] if len(scores) == 1 else sum(scores[1:], scores[0])
        qs = qs.annotate(rank=rank).order_by("-rank", "family_name", "given_name")
    elif not (parsed.mrn or parsed.birth_date or parsed.phone_bidx):
        return qs.none()
    else:
        qs = qs.order_by("family_name", "given_name")
    return qs


def patient_find_by_mrn(*, actor, mrn: str, perm: str = roles.VIEW_DEMOGRAPHICS) -> Patient | None:
    """The patient with exactly this MRN among those `actor` holds `perm` on (no access event: the caller goes on
    to a service or selector that checks and records)."""
    return visible_patients(actor, perm).filter(mrn=(mrn or "").strip()).first()


TYPO_THRESHOLD = "0.5"
TYPO_MIN_LENGTH = 5  # shorter fragments match by substring only (patient_search_queryset)
TYPO_MAX_EDITS = 2  # a transposition is two edits


class LevenshteinLessEqual(Func):
    """fuzzystrmatch's edit distance, stopping early past the limit (patients/migrations/0004)."""

    function = "levenshtein_less_equal"
    output_field = IntegerField()


@contextlib.contextmanager
def _typo_threshold():
    """A transaction in which `%>` uses TYPO_THRESHOLD. pg_trgm's default word-similarity threshold (0.6) misses one
    transposition in a short name ("garcai" ~ "garcia" scores 0.57); 0.5 catches it and still excludes "garza"."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", [TYPO_THRESHOLD])
        yield


def _vocabulary_matches(t: str) -> QuerySet[PatientNameVocabulary]:
    """Name words that `t` may mean: containing it, close by trigrams (`word %> t`, within the word), or (same first
    letter, about the same length) within two edits, which catches a transposition in the middle of a word that
    trigrams miss ("caazres" shares 4 of 8 with "cazares": 0.33). Three index scans on the vocabulary, OR-ed in a
    bitmap."""
    return PatientNameVocabulary.objects.annotate(
        edits=LevenshteinLessEqual(F("word"), Value(t), Value(TYPO_MAX_EDITS)),
        n=Length("word"),
    ).filter(
        Q(word__contains=t)
        | Q(TrigramWordSimilar(F("word"), Value(t)))
        | Q(
            word__startswith=t[0],
            n__range=(len(t) - TYPO_MAX_EDITS, len(t) + TYPO_MAX_EDITS),
            edits__lte=TYPO_MAX_EDITS,
        )
    )


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, or swap two neighbours) from a to b: optimal string alignment distance,
    so a transposition ("barvo" for "bravo") is one edit where Levenshtein counts two."""
    prev2: list[int] = []  # the row before prev (read from the second row on)
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def close_word_tiers(t: str) -> list[list[str]]:
    """The vocabulary's words for one fragment, best first: words containing it; one edit or swap away; two; then
    those only trigrams find (which for a short fragment are mostly words sharing its first three letters). Within
    a tier, the closer by trigrams first. Run inside the transaction that sets the trigram threshold."""
    tiers: list[list[tuple[float, str]]] = [[], [], [], []]
    rows = _vocabulary_matches(t).annotate(sim=TrigramWordSimilarity(t, "word")).values_list("word", "sim")
    for word, sim in rows:
        tier = 0 if t in word else min(edit_distance(t, word), 3)
        tiers[tier].append((-sim, word))
    return [[w for _, w in sorted(tier)] for tier in tiers]


SEARCH_COLUMNS = (
    "id",
    "mrn",
    "given_name",
    "middle_name",
    "family_name",
    "preferred_name",
    "birth_date",
    "sex_at_birth",
    "deceased_date",
    "allergy_status",
)


def _word_prefix_matches(*, actor, word: str, need: int) -> list[Patient]:
    """Up to `need` visible patients with a name word starting with `word`, in list order: the word itself first
    (every "john" before "johns" and "johnson"), then family and given name. The word table's index yields them in
    that order, so the query stops after a page however common the name (docs/benchmark.md). A patient with two such
    words ("john johnson") comes once, at the first. Fewer than `need` means there are no more."""
    successor = word[:-1] + chr(
        ord(word[-1]) + 1
    )  # words are [a-z0-9]: the prefix's range ends here (C collation)
    qs = (
        visible_patients(actor, roles.VIEW_DEMOGRAPHICS)
        .filter(name_words__word__gte=word, name_words__word__lt=successor)
        .order_by(
            "name_words__word", "name_words__family_name", "name_words__given_name", "name_words__patient_id"
        )
        .only(*SEARCH_COLUMNS)
    )
    return _distinct_page(qs, need)


def _distinct_page(qs: QuerySet[Patient], need: int) -> list[Patient]:
    """Up to `need` distinct patients from a word-table join (a patient with two matching words comes twice), read
    in batches so the index-ordered scan stops after a page."""
    seen: dict = {}
    start, batch = 0, need + 8
    while True:
        rows = list(qs[start : start + batch])
        for p in rows:
            seen.setdefault(p.pk, p)
        if len(rows) < batch or len(seen) >= need:
            return list(seen.values())[:need]
        start += batch


def _close_word_matches(*, actor, words: list[str], need: int, exclude: list) -> list[Patient]:
    """Up to `need` visible patients (not in `exclude`) carrying one of `words`, in the words' order, then family and
    given name."""
    order = ["name_words__family_name", "name_words__given_name", "name_words__patient_id"]
    qs = visible_patients(actor, roles.VIEW_DEMOGRAPHICS).exclude(pk__in=exclude).only(*SEARCH_COLUMNS)
    if len(words) == 1:  # the word table's index order: stops after a page
        return _distinct_page(qs.filter(name_words__word=words[0]).order_by(*order), need)
    pos = Func(
        Value(words, output_field=ArrayField(TextField())),
        F("name_words__word"),
        function="array_position",
        output_field=IntegerField(),
    )
    qs = qs.filter(name_words__word__in=words).annotate(word_pos=pos).order_by("word_pos", *order)
    return _distinct_page(qs, need)


def _search_rows(*, actor, q: str, parsed: ParsedQuery, need: int) -> list[Patient]:
    """Up to `need` results in list order (patient_search's steps)."""
    found: list[Patient] = []
    if len(parsed.terms) == 1 and not (parsed.mrn or parsed.birth_date or parsed.phone_bidx):
        word = parsed.terms[0]
        found = _word_prefix_matches(actor=actor, word=word, need=need)
        if len(found) >= need:
            return found
        if len(word) >= TYPO_MIN_LENGTH:
            return _close_matches(actor=actor, word=word, need=need, found=found)
    return _ranked_matches(actor=actor, q=q, parsed=parsed, need=need, found=found)


def _close_matches(*, actor, word: str, need: int, found: list[Patient]) -> list[Patient]:
    """After the prefix matches: words containing the fragment, then typos, tier by tier (close_word_tiers): each
    tier's patients in the words' order, then list order; the next tier is read only while the page is short."""
    found = list(found)
    with _typo_threshold():
        tiers = close_word_tiers(word)
    # The close tiers word by word: each word's patients come in its index's order, so a common word ("young"
    # for "yuong") stops after a page. The last tier (trigrams only: many words, few patients each) in one query.
    # Words starting with the fragment are left out: the prefix step listed all their patients.
    groups = [[w] for tier in tiers[:-1] for w in tier if not w.startswith(word)] + [tiers[-1]]
    for words in groups:
        if words and len(found) < need:
            found += _close_word_matches(
                actor=actor, words=words, need=need - len(found), exclude=[p.pk for p in found]
            )
    return found


def _ranked_matches(*, actor, q: str, parsed: ParsedQuery, need: int, found: list[Patient]) -> list[Patient]:
    """Anything but one long name fragment: one ranked query (patient_search_queryset), after what was found."""
    qs = patient_search_queryset(actor=actor, q=q, parsed=parsed).only(*SEARCH_COLUMNS)
    if found:
        qs = qs.exclude(pk__in=[p.pk for p in found])
    with _typo_threshold():
        return found + list(qs[: need - len(found)])


def patient_search(
    *, actor, q: str, request=None, limit: int = 20, offset: int = 0
) -> tuple[list[Patient], bool]:
    """One page of results and whether there are more. Records one list event naming the patients shown.

    One name fragment (what is typed into the box most of the time) is looked up by word prefix first, in list
    order and stopping after the page; only when those run out do the other matches follow, without the patients
    already listed: for five letters or more, words containing it and then typos by edit distance
    (close_word_tiers); for fewer, substring matches ranked by similarity. Anything else (several words, a date,
    an MRN) is one ranked query (patient_search_queryset)."""
    need = offset + limit + 1
    parsed = parse_query(q)
    found = _search_rows(actor=actor, q=q, parsed=parsed, need=need)
    rows = found[offset : offset + limit + 1]
    more = len(rows) > limit
    rows = rows[:limit]
    if rows or q:
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.PATIENT_LIST,
            patient_ids=[p.pk for p in rows],
            request=request,
            detail={"query_kind": _kind(parsed)},
        )
    return rows, more


def _kind(p: ParsedQuery) -> str:
    if p.alternatives:
        return "number"
    return "mrn" if p.mrn else "dob" if p.birth_date and not p.terms else "phone" if p.phone_bidx else "name"
