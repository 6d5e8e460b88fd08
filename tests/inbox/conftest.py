"""Inbox fixtures: items posted the way sources post them (inbox.sources.post_item)."""

import itertools

import pytest

from inbox import sources
from inbox.models import Kind, Priority
from tests.prescriptions.conftest import catalog, pharmacies, simulator_proc  # noqa: F401 (fixtures)

_refs = itertools.count()


def post(
    assignee=None,
    patient=None,
    *,
    kind=Kind.RESULT,
    priority=Priority.NORMAL,
    title="Glucose: 98 mg/dL",
    **kw,
):
    kw.setdefault("source_ref", f"test:{next(_refs)}")
    item, _ = sources.post_item(
        kind=kind, priority=priority, title=title, patient=patient, assignee=assignee, **kw
    )
    return item


@pytest.fixture
def team(db, clinician, nurse):
    from django.contrib.auth.models import Group

    g = Group.objects.create(name="Blue team")
    g.user_set.add(clinician, nurse)
    return g
