"""The demo clinic gives dr.house a full inbox: critical first, abnormal results, the pharmacy's requests, tasks
(one overdue), a forwarded item with its note and an escalated one; a team queue too."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from inbox import selectors
from inbox.models import EventKind, InboxEvent, Kind, Priority


@pytest.fixture
def demo(db, settings):
    settings.DEBUG = True
    call_command("demo_data", "--patients", "24")
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="dr.house")


def test_dr_house_has_a_full_inbox(demo, login):
    house = demo
    page = selectors.inbox_page(actor=house)
    kinds = {i.kind for i in page.items}
    assert {Kind.CRITICAL_RESULT, Kind.RESULT, Kind.RENEWAL_REQUEST, Kind.CHANGE_REQUEST, Kind.TASK} <= kinds
    assert page.items[0].priority == Priority.CRITICAL
    assert [i.priority for i in page.items] == sorted(i.priority for i in page.items)
    assert any(i.is_overdue for i in page.items if i.kind == Kind.TASK)
    forwarded = InboxEvent.objects.get(kind=EventKind.FORWARDED, to_user=house)
    assert forwarded.note and forwarded.item in page.items
    assert any(i.escalated_at and i.escalated_to == house for i in page.items)
    team = next(q for q in page.queues if q.key.startswith("team:"))
    assert team.total >= 1
    # What the screen shows: the request links to its answering page, a result to the chart's results.
    body = login(house).get(reverse("inbox:inbox")).content.decode()
    assert "Critical result" in body and "Renewal request" in body and "Escalated" in body
