"""Shared checks for "every access and every write leaves an audit event". Other apps' completeness tests
(tests/encounters, tests/prescriptions, ...) import these so the rule is asserted the same way everywhere:

    from tests.audit.helpers import assert_read_recorded, assert_denied_recorded, audited_write

    def test_encounter_page_is_recorded(login, clinician, patient):
        assert_read_recorded(login(clinician), url, actor=clinician, patient_id=patient.pk,
                             category=categories.ENCOUNTER)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import Max, Q

from audit.models import AccessEvent


def mark() -> int:
    """The id of the newest event so far: events written after it are "new"."""
    return AccessEvent.objects.aggregate(m=Max("id"))["m"] or 0


def naming(patient_id) -> Q:
    """Events that name the patient, alone or in a list."""
    return Q(patient_id=patient_id) | Q(patient_ids__contains=[patient_id])


def events_since(since: int, *filters: Q, **kw) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(*filters, id__gt=since, **kw).order_by("id"))


def _call(client, method: str, url: str, data=None, headers=None):
    return getattr(client, method)(url, data or {}, headers=headers or {})


def assert_read_recorded(
    client,
    url: str,
    *,
    actor,
    patient_id,
    category: str,
    action: str = "view",
    method: str = "get",
    data=None,
    headers=None,
    status: int = 200,
) -> AccessEvent:
    """The request answers `status` and writes exactly one successful event of `category` naming the patient.
    (A chart page may write more events, of other categories: each section records what it shows.)"""
    since = mark()
    resp = _call(client, method, url, data, headers)
    assert resp.status_code == status, f"{url}: {resp.status_code}"
    evs = events_since(since, naming(patient_id), actor=actor, outcome="success", action=action)
    same = [e for e in evs if e.category == category]
    assert len(same) == 1, (
        f"{url}: expected one '{action}' event of {category!r} naming the patient, got {evs}"
    )
    return same[0]


def assert_denied_recorded(
    client, url: str, *, actor, patient_id, method: str = "get", data=None, status: int = 404
) -> AccessEvent:
    """An outsider's attempt answers 404 (like a missing record) and is recorded as denied."""
    since = mark()
    resp = _call(client, method, url, data)
    assert resp.status_code == status, f"{url}: {resp.status_code}"
    evs = events_since(since, patient_id=patient_id, actor=actor, outcome="denied")
    assert len(evs) >= 1, f"{url}: the refused attempt was not recorded"
    return evs[0]


@contextmanager
def audited_write(*, patient_id, actor=None, at_least: int = 1) -> Iterator[list[AccessEvent]]:
    """Wrap a write: afterwards the list holds the new events naming the patient (at least `at_least`).
    Writes through django-auditlog arrive as events with detail.log_entry; bulk writes as explicit events."""
    since = mark()
    found: list[AccessEvent] = []
    yield found
    kw = {"actor": actor} if actor is not None else {}
    found.extend(events_since(since, naming(patient_id), outcome="success", **kw))
    assert len(found) >= at_least, f"expected >= {at_least} audit events naming {patient_id}, got {found}"
