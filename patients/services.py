"""Every write of patient data: registration, demographics, care team, break-the-glass, merge.

Each service checks the actor's permission (through the selector, with the write permission), validates, writes in
one transaction, leaves the audit trail (django-auditlog on the models, explicit events for bulk moves), and queues
background work with transaction.on_commit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts import roles
from audit import categories
from audit.models import Action
from audit.services import access_record

from . import crypto
from .access import grants_clinical_access, may_grant_clinical_access
from .duplicates import (  # noqa: F401 (DUPLICATES_SHOWN, Candidate: still importable from here)
    DUPLICATES_SHOWN,
    Candidate,
    DuplicatesFound,
    duplicate_candidates,
)
from .models import (
    BreakGlassGrant,
    CareTeamMember,
    DuplicateOverride,
    Patient,
    PatientGroupObjectPermission,
    PatientMerge,
    PatientUserObjectPermission,
)
from .mrn import luhn_digit, mrn_is_valid  # noqa: F401 (mrn_is_valid: callers and tests name it here)
from .selectors import name_search_text, patient_get, patient_get_for_care_team
from .tasks import break_glass_notify

DEMOGRAPHIC_FIELDS = (
    "given_name",
    "middle_name",
    "family_name",
    "preferred_name",
    "suffix",
    "previous_names",
    "birth_date",
    "sex_at_birth",
    "gender_identity",
    "sexual_orientation",
    "pronouns",
    "race",
    "ethnicity",
    "preferred_language",
    "tribal_affiliation",
    "occupation",
    "occupation_industry",
    "deceased_date",
    "ssn",
    "drivers_license",
    "phones",
    "email",
    "addresses",
    "emergency_contacts",
    "department",
)


def mrn_next() -> str:
    """A database sequence number, zero-padded to at least seven digits, plus a Luhn check digit: unique, and
    typos are caught. MRNs have 8 digits up to sequence 9,999,999 and then grow by one digit at a time (9 digits
    up to 99,999,999 patients, ... 12 digits); earlier MRNs never change. The check digit covers every length."""
    with connection.cursor() as cur:
        cur.execute("SELECT nextval('patients_mrn_seq')")
        n = cur.fetchone()[0]
    body = f"{n:07d}"
    return body + luhn_digit(body)


def patient_derive(patient: Patient) -> None:
    """Fill the columns derived from encrypted or free-text ones: search text and blind indexes."""
    patient.name_search = name_search_text(
        given=patient.given_name,
        middle=patient.middle_name,
        family=patient.family_name,
        preferred=patient.preferred_name,
        previous=patient.previous_names,
    )
    patient.ssn_bidx = crypto.blind_index("ssn", crypto.digits(patient.ssn or ""))
    patient.drivers_license_bidx = crypto.blind_index("dl", crypto.licence(patient.drivers_license or ""))
    patient.phone_bidx = sorted(
        {
            crypto.blind_index("phone", crypto.normalise_phone(p.get("value", "")))
            for p in cast(list[dict], patient.phones or [])  # an encrypted JSON list of {"use", "value"}
            if crypto.digits(p.get("value", ""))
        }
    )
    patient.key_version = crypto.current_key_version()


# ------------------------------------------------------------ registration and demographics
def _require_model_perm(actor, perm: str, *, category: str = categories.DEMOGRAPHICS, request=None) -> None:
    """Global permission check; a refusal is recorded (outside any transaction) before the 403."""
    if not (actor and actor.is_authenticated and actor.has_perm(perm)):
        from audit.services import access_record_denied

        access_record_denied(actor=actor, category=category, request=request, detail={"needed": perm})
        raise PermissionDenied


def patient_register(*, actor, data: dict, duplicate_reason: str = "", request=None) -> Patient:
    """Register a new patient. Who: users with patients.register_patient (front desk, nurse, clinician).

    Raises DuplicatesFound unless `duplicate_reason` says why a new record is right after seeing the candidates.
    Showing candidates is a disclosure: it is recorded as one access event ("duplicate check") naming them, and
    records the user may not otherwise see are shown only by initials, birth year, sex and department (never the
    MRN or full date of birth, which would open break-the-glass to anyone who may register).
    The registering user's department becomes the patient's; a registering clinician joins the care team.
    """
    from .access import patient_access_for

    _require_model_perm(actor, "patients.register_patient", request=request)
    candidates = duplicate_candidates(data=data)
    if candidates and not duplicate_reason.strip():
        for c in candidates:
            c.visible = patient_access_for(actor, c.patient.pk).has(roles.VIEW_DEMOGRAPHICS)
        # Outside the registration's transaction: the disclosure is kept although nothing is saved.
        access_record(
            actor=actor,
            action=Action.LIST,
            category=categories.DUPLICATE_CHECK,
            patient_ids=[c.patient.pk for c in candidates],
            request=request,
            detail={"shown_in_full": [str(c.patient.pk) for c in candidates if c.visible]},
        )
        raise DuplicatesFound(candidates)
    with transaction.atomic():
        patient = Patient(**{k: v for k, v in data.items() if k in DEMOGRAPHIC_FIELDS})
        if patient.department_id is None:
            patient.department = actor.departments.order_by("pk").first()
        patient.mrn = mrn_next()
        patient_derive(patient)
        patient.full_clean(exclude=["mrn"])
        patient.save(force_insert=True)
        if candidates:
            DuplicateOverride.objects.create(
                patient=patient,
                reason=duplicate_reason.strip(),
                created_by=actor,
                candidates=[
                    {"patient": str(c.patient.pk), "score": c.score, "reasons": c.reasons} for c in candidates
                ],
            )
        if roles.Role.CLINICIAN in roles.user_roles(actor):
            care_team_grant(patient=patient, user=actor, care_role="Registering clinician", added_by=actor)
        return patient


def patient_update(*, actor, patient_id, data: dict, request=None) -> Patient:
    """Change demographics. Who: users holding change_demographics on the patient."""
    patient = patient_get(
        actor=actor,
        patient_id=patient_id,
        perm=roles.CHANGE_DEMOGRAPHICS,
        category=categories.DEMOGRAPHICS,
        request=request,
        record=False,
    )
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        for k, v in data.items():
            if k in DEMOGRAPHIC_FIELDS:
                setattr(patient, k, v)
        patient_derive(patient)
        patient.full_clean()
        patient.save()
        return patient


# ------------------------------------------------------------ care team -> object permissions
def _perms_for_user(user) -> set[str]:
    return roles.patient_permissions_for_roles(roles.user_roles(user))


def _all_clinical_perms() -> set[str]:
    return set(roles.PATIENT_PERMISSION_LABELS)


def care_team_grant(
    *, patient: Patient, user=None, group=None, care_role: str, added_by=None
) -> CareTeamMember:
    """Internal: put a member on the team and grant the object permissions (no access check here)."""
    member, _ = CareTeamMember.objects.get_or_create(
        patient=patient, user=user, group=group, defaults={"care_role": care_role, "added_by": added_by}
    )
    if user is not None:
        for perm in _perms_for_user(user):
            assign_perm(f"patients.{perm}", user, patient)
    else:
        # A group gets every patient permission; each member is still limited to their own roles' permissions.
        for perm in _all_clinical_perms():
            assign_perm(f"patients.{perm}", group, patient)
    return member


def _refuse_clinical_grant(*, actor, patient: Patient, request, target) -> None:
    from audit.services import access_record_denied

    access_record_denied(
        actor=actor,
        category=categories.CARE_TEAM,
        patient_id=patient.pk,
        request=request,
        detail={"needed": "clinician or practice admin", "member": str(target)},
    )
    raise PermissionDenied(
        "Only a treating clinician or a practice admin may change who has clinical access."
    )


def care_team_add(
    *, actor, patient_id, user=None, group=None, care_role: str, request=None
) -> CareTeamMember:
    """Add a user or group to a patient's care team, which grants them the patient permissions of their roles.

    Who: users holding change_demographics on the patient, or a practice admin of its department. A member who
    gets clinical access (a clinician or nurse, or any group) may be added only by a treating clinician or a
    practice admin (access.may_grant_clinical_access); others get PermissionDenied, recorded.
    """
    patient = patient_get_for_care_team(actor=actor, patient_id=patient_id, request=request, record=False)
    if (user is None) == (group is None):
        raise ValidationError("Choose either a user or a group.")
    if user is not None and not user.is_active:
        raise ValidationError("That user is deactivated.")
    if grants_clinical_access(user=user, group=group) and not may_grant_clinical_access(
        actor, patient.access
    ):
        _refuse_clinical_grant(actor=actor, patient=patient, request=request, target=user or group)
    with transaction.atomic():
        member = care_team_grant(
            patient=patient,
            user=user,
            group=group,
            care_role=care_role.strip() or "Care team",
            added_by=actor,
        )
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.CARE_TEAM,
            patient_id=patient.pk,
            request=request,
            detail={"added": str(user or group), "care_role": care_role},
        )
        return member


def _care_team_revoke(*, patient: Patient, target) -> None:
    """Remove every object permission `target` (a user or group) holds on the patient through the care team."""
    for perm in _all_clinical_perms():
        remove_perm(f"patients.{perm}", target, patient)


def care_team_remove(*, actor, patient_id, member_id: int, request=None) -> None:
    """Remove a member and revoke the permissions the membership granted (their next request is a 404).
    Who: as care_team_add; removing a member with clinical access needs a treating clinician or practice admin."""
    patient = patient_get_for_care_team(actor=actor, patient_id=patient_id, request=request, record=False)
    member = (
        CareTeamMember.objects.select_related("user", "group").filter(patient=patient, pk=member_id).first()
    )
    if member is None:
        raise ValidationError("That person is no longer on the care team.")
    target = member.user or member.group
    if grants_clinical_access(user=member.user, group=member.group) and not may_grant_clinical_access(
        actor, patient.access
    ):
        _refuse_clinical_grant(actor=actor, patient=patient, request=request, target=target)
    with transaction.atomic():
        _care_team_revoke(patient=patient, target=target)
        member.delete()
        access_record(
            actor=actor,
            action=Action.UPDATE,
            category=categories.CARE_TEAM,
            patient_id=patient.pk,
            request=request,
            detail={"removed": str(target)},
        )


# ------------------------------------------------------------ break the glass
class BreakGlassRefused(Exception):
    pass


def break_glass_check_role(*, actor, request=None) -> None:
    """Only roles with clinical permissions may ask for emergency access; anyone else's attempt (even opening the
    form) is refused with 403 and recorded."""
    if roles.VIEW_CLINICAL not in _perms_for_user(actor):
        from audit.services import access_record_denied

        access_record_denied(
            actor=actor,
            category=categories.CHART_SUMMARY,
            request=request,
            detail={"needed": "clinical role", "break_glass": True},
        )
        raise PermissionDenied


def break_glass_request(*, actor, mrn: str, birth_date, reason: str, request=None) -> BreakGlassGrant:
    """Emergency access for a clinician or nurse outside the care team. Needs the MRN and date of birth (so it
    cannot be used to browse) and a reason. Grants BREAK_GLASS_HOURS of access; privacy officers are notified.
    A refused attempt (no match) is recorded outside the transaction, so the evidence is kept.
    """
    break_glass_check_role(actor=actor, request=request)
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ValidationError({"reason": "Say why you need emergency access (at least 10 characters)."})
    patient = Patient.objects.filter(
        mrn=(mrn or "").strip(), birth_date=birth_date, merged_into__isnull=True
    ).first()
    if patient is None:
        access_record(
            actor=actor,
            action=Action.BREAK_GLASS,
            category=categories.CHART_SUMMARY,
            outcome="failure",
            request=request,
            detail={"reason": reason, "matched": False},
        )
        raise BreakGlassRefused("No patient matches that MRN and date of birth.")
    with transaction.atomic():
        now = timezone.now()
        grant = BreakGlassGrant.objects.create(
            patient=patient,
            user=actor,
            reason=reason,
            granted_at=now,
            expires_at=now + timedelta(hours=settings.BREAK_GLASS_HOURS),
        )
        access_record(
            actor=actor,
            action=Action.BREAK_GLASS,
            category=categories.CHART_SUMMARY,
            patient_id=patient.pk,
            request=request,
            break_glass=True,
            detail={"reason": reason, "grant": str(grant.pk), "expires_at": grant.expires_at.isoformat()},
        )
        transaction.on_commit(lambda: break_glass_notify.delay(str(grant.pk)))
    return grant


# ------------------------------------------------------------ merge / unmerge
# Rows that stay with the merged record: its own merge bookkeeping and duplicate override, its emergency-access
# grants (given for that record; moving them would open the survivor to someone who never asked for it), and the
# object-permission rows, which are revoked instead (see patient_merge).
STAY_WITH_ALIAS = frozenset(
    {
        "patients.PatientMerge",
        "patients.DuplicateOverride",
        "patients.BreakGlassGrant",
        "patients.PatientUserObjectPermission",
        "patients.PatientGroupObjectPermission",
        "patients.PatientNameWord",  # derived from the patient's own names by a trigger
    }
)
_REVOKED = "_revoked_permissions"  # key in PatientMerge.moved: the alias's object permissions, for unmerge


def patient_links() -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, field) holding a foreign key or one-to-one to Patient, in every installed app, including
    relations declared with related_name="+" (hidden from Patient._meta.related_objects) and auto-created
    many-to-many tables: found from the fields themselves, so a model added later is moved without being listed."""
    from django.apps import apps

    out = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or model is Patient or model._meta.label in STAY_WITH_ALIAS:
            continue
        for f in model._meta.local_concrete_fields:
            if f.is_relation and (f.many_to_one or f.one_to_one) and f.related_model is Patient:
                out.append((model, f))
    return sorted(out, key=lambda mf: (mf[0]._meta.label, mf[1].name))


def _unique_sets(model, fk) -> list[tuple[list[str], models.Q | None]]:
    """The unique constraints that include `fk`: (the other fields, the constraint's condition)."""
    sets: list[tuple[list[str], models.Q | None]] = [([], None)] if fk.unique else []
    for together in model._meta.unique_together:
        if fk.name in together:
            sets.append(([f for f in together if f != fk.name], None))
    for c in model._meta.constraints:
        if isinstance(c, models.UniqueConstraint) and c.fields and fk.name in c.fields:
            sets.append(([f for f in c.fields if f != fk.name], c.condition))
    return sets


def _movable(model, fk, *, duplicate: Patient, survivor: Patient):
    """The duplicate's rows that can move without breaking a unique constraint: a row whose twin the survivor
    already has (its one-to-one row, the same care-team member) stays with the duplicate."""
    from django.db.models import Exists, OuterRef

    rows = model._base_manager.filter(**{fk.name: duplicate})
    for others, condition in _unique_sets(model, fk):
        twin = model._base_manager.filter(**{fk.name: survivor}, **{f: OuterRef(f) for f in others})
        if condition is not None:
            twin = twin.filter(condition)
            rows = rows.exclude(condition & models.Q(Exists(twin)))
        else:
            rows = rows.exclude(Exists(twin))
    return rows


def _touched(model) -> dict:
    """The model's `auto_now` columns set to now: a queryset update() does not renew them itself."""
    now = timezone.now()
    return {f.name: now for f in model._meta.concrete_fields if getattr(f, "auto_now", False)}


def patient_merge(*, actor, survivor_id, duplicate_id, reason: str, request=None) -> PatientMerge:
    """Move everything linked to `duplicate` onto `survivor`; the duplicate stays as an alias pointing at it.

    Who: users with patients.merge_patient who may change demographics of both. Undone by patient_unmerge.
    Every foreign key to Patient in every app moves (patient_links), except STAY_WITH_ALIAS. Care-team members
    move with their access; every object permission on the alias is revoked (recorded, so unmerge restores it),
    so nobody left on the alias's team keeps access to it. Emergency-access grants stay with the alias.
    """
    _require_model_perm(actor, "patients.merge_patient", request=request)
    if not reason.strip():
        raise ValidationError({"reason": "Say why these records are the same person."})
    survivor = patient_get(
        actor=actor, patient_id=survivor_id, perm=roles.CHANGE_DEMOGRAPHICS, request=request, record=False
    )
    duplicate = patient_get(
        actor=actor, patient_id=duplicate_id, perm=roles.CHANGE_DEMOGRAPHICS, request=request, record=False
    )
    with transaction.atomic():
        if survivor.pk == duplicate.pk or survivor.merged_into_id or duplicate.merged_into_id:
            raise ValidationError("Choose two different records that are not already merged.")
        moved: dict = {}
        for model, fk in patient_links():
            pks = list(
                _movable(model, fk, duplicate=duplicate, survivor=survivor).values_list("pk", flat=True)
            )
            if pks:
                # bulk: audited below; a moved row changed (its last-change time: FHIR _lastUpdated, _since)
                model._base_manager.filter(pk__in=pks).update(**{fk.name: survivor}, **_touched(model))
                moved[f"{model._meta.label}.{fk.name}"] = [str(pk) for pk in pks]
        for m in CareTeamMember.objects.filter(patient=survivor).select_related("user", "group"):
            care_team_grant(patient=survivor, user=m.user, group=m.group, care_role=m.care_role)
        user_perms = PatientUserObjectPermission.objects.filter(content_object=duplicate)
        group_perms = PatientGroupObjectPermission.objects.filter(content_object=duplicate)
        revoked = {
            "users": [list(r) for r in user_perms.values_list("user_id", "permission_id")],
            "groups": [list(r) for r in group_perms.values_list("group_id", "permission_id")],
        }
        if revoked["users"] or revoked["groups"]:
            moved[_REVOKED] = revoked
            user_perms.delete()  # bulk: audited below
            group_perms.delete()
        Patient.objects.filter(pk=duplicate.pk).update(merged_into=survivor)
        merge = PatientMerge.objects.create(
            survivor=survivor, merged=duplicate, moved=moved, reason=reason.strip(), merged_by=actor
        )
        counts = {k: len(v) for k, v in moved.items() if k != _REVOKED}
        for pid, role in ((survivor.pk, "survivor"), (duplicate.pk, "merged")):
            access_record(
                actor=actor,
                action=Action.MERGE,
                category=categories.DEMOGRAPHICS,
                patient_id=pid,
                patient_ids=[survivor.pk, duplicate.pk],
                request=request,
                detail={
                    "merge": str(merge.pk),
                    "role": role,
                    "moved": counts,
                    "permissions_revoked": len(revoked["users"]) + len(revoked["groups"]),
                },
            )
        return merge


def patient_unmerge(*, actor, merge_id, request=None) -> PatientMerge:
    """Put back exactly what a merge moved and make the alias a patient of its own again: the moved rows return,
    the alias's object permissions are restored as they were, and care-team members that came over with the
    duplicate lose the access the merge gave them on the survivor."""
    _require_model_perm(actor, "patients.merge_patient", request=request)
    found = PatientMerge.objects.filter(pk=merge_id, unmerged_at__isnull=True).values("survivor_id").first()
    if found is None:
        raise ValidationError("That merge does not exist or was already undone.")
    # Access first, outside the transaction, so a refused attempt's event is kept.
    patient_get(
        actor=actor,
        patient_id=found["survivor_id"],
        perm=roles.CHANGE_DEMOGRAPHICS,
        request=request,
        record=False,
    )
    from django.apps import apps

    with transaction.atomic():
        merge = PatientMerge.objects.select_for_update().filter(pk=merge_id, unmerged_at__isnull=True).first()
        if merge is None:
            raise ValidationError("That merge does not exist or was already undone.")
        for key, pks in merge.moved.items():
            if key == _REVOKED:
                continue
            label, field = key.rsplit(".", 1)
            model = apps.get_model(label)
            model._base_manager.filter(pk__in=pks).update(**{field: merge.merged_id}, **_touched(model))
        Patient.objects.filter(pk=merge.merged_id).update(merged_into=None)
        moved_members = merge.moved.get(f"{CareTeamMember._meta.label}.patient", [])
        survivor = merge.survivor
        for m in CareTeamMember.objects.filter(pk__in=moved_members).select_related("user", "group"):
            if not CareTeamMember.objects.filter(patient=survivor, user=m.user, group=m.group).exists():
                _care_team_revoke(patient=survivor, target=m.user or m.group)
        revoked = merge.moved.get(_REVOKED, {})
        PatientUserObjectPermission.objects.bulk_create(
            [
                PatientUserObjectPermission(content_object_id=merge.merged_id, user_id=u, permission_id=p)
                for u, p in revoked.get("users", [])
            ],
            ignore_conflicts=True,
        )
        PatientGroupObjectPermission.objects.bulk_create(
            [
                PatientGroupObjectPermission(content_object_id=merge.merged_id, group_id=g, permission_id=p)
                for g, p in revoked.get("groups", [])
            ],
            ignore_conflicts=True,
        )
        merge.unmerged_at = timezone.now()
        merge.unmerged_by = actor
        merge.save(update_fields=["unmerged_at", "unmerged_by"])
        for pid in (merge.survivor_id, merge.merged_id):
            access_record(
                actor=actor,
                action=Action.MERGE,
                category=categories.DEMOGRAPHICS,
                patient_id=pid,
                patient_ids=[merge.survivor_id, merge.merged_id],
                request=request,
                detail={
                    "unmerge": str(merge.pk),
                    "moved_back": {k: len(v) for k, v in merge.moved.items() if k != _REVOKED},
                },
            )
        return merge


# ------------------------------------------------------------ key rotation
def encrypted_models() -> list[tuple[type[models.Model], list[str]]]:
    """Every installed model with encrypted columns, and those columns: found by field type, so a new app's
    EncryptedTextField / EncryptedJSONField is rotated without anyone remembering to list it here."""
    from django.apps import apps

    out = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, crypto.EncryptedTextField | crypto.EncryptedJSONField)
        ]
        if names:
            out.append((model, names))
    return sorted(out, key=lambda mf: mf[0]._meta.label)


def patients_rotate_keys(*, batch: int = 1000, on_model=None) -> int:
    """Re-encrypt every row of every model with encrypted fields under the current (first) key.
    Returns rows rewritten; `on_model(label, rows)` is told each model's count (for the command's output).

    Who: operators, through `manage.py rotate_keys`. Rows are locked batch by batch (SELECT ... FOR UPDATE), so
    an edit made meanwhile is neither lost nor overwritten with the stale copy read here.
    """
    version = crypto.current_key_version()
    total = 0
    for model, names in encrypted_models():
        fields = names + (
            ["key_version"] if any(f.name == "key_version" for f in model._meta.concrete_fields) else []
        )
        done = 0
        last = None
        while True:
            with transaction.atomic():
                qs = model._base_manager.order_by("pk")
                if last is not None:
                    qs = qs.filter(pk__gt=last)
                rows: list[Any] = list(qs.select_for_update()[:batch])  # any encrypted model's rows
                if not rows:
                    break
                if "key_version" in fields:
                    for row in rows:
                        row.key_version = version
                # Values were decrypted on read (any configured key); saving encrypts them with the current one.
                model._base_manager.bulk_update(rows, fields)
            done += len(rows)
            last = rows[-1].pk
        if on_model is not None:
            on_model(model._meta.label, done)
        total += done
        # bulk_update bypasses django-auditlog: record the rewrite explicitly (no PHI; counts only).
        access_record(
            actor=None,
            action=Action.UPDATE,
            category=categories.DEMOGRAPHICS,
            channel="command",
            detail={"rotate_keys": model._meta.label, "rows": done, "key_version": version},
        )
    return total
