"""The clinical inbox in a real browser: dr.house opens it from the home page, sees the critical result first,
signs off a result with a comment in place, forwards one to a colleague with a note and creates a follow-up task,
all without leaving the page (htmx)."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.roles import Role
from inbox.models import EventKind, InboxEvent, InboxItem, Kind, Priority, State
from patients.services import care_team_grant
from tests.conftest import browser_login, screenshot
from tests.factories import UserFactory
from tests.inbox.conftest import post

pytestmark = [pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "shots"


def _shot(page, name: str) -> None:
    """Into test-artifacts/ like every browser test, and shots/ (not committed) for looking at the screens."""
    screenshot(page, name)
    if os.environ.get("EHR_SHOTS", "1") == "1":
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_dr_house_works_his_inbox(transactional_db, page, patient, nurse):
    house = UserFactory(username="dr.house", first_name="Gregory", last_name="House", roles=[Role.CLINICIAN])
    wilson = UserFactory(username="dr.wilson", first_name="James", last_name="Wilson", roles=[Role.CLINICIAN])
    care_team_grant(patient=patient, user=house, care_role="Primary care physician")
    care_team_grant(patient=patient, user=wilson, care_role="Oncologist")
    normal = post(house, patient, title="Hemoglobin A1c: 5.4 % (normal)")
    abnormal = post(house, patient, priority=Priority.ABNORMAL, title="LDL cholesterol: 190 mg/dL (high)")
    critical = post(
        house,
        patient,
        kind=Kind.CRITICAL_RESULT,
        priority=Priority.CRITICAL,
        title="Potassium: 6.9 mmol/L (critically high)",
        detail="Reference range 3.5-5.1 mmol/L.",
    )
    post(house, patient, kind=Kind.TASK, title="Call patient about the statin")
    # One of Dr. Wilson's results that sat too long, escalated to dr.house as his coverage.
    from django.utils import timezone

    from inbox.escalation import items_escalate
    from inbox.models import Coverage

    Coverage.objects.create(clinician=wilson, covering=house)
    late = post(
        wilson, patient, priority=Priority.ABNORMAL, kind=Kind.RESULT_TO_SIGN, title="TSH: 7.9 mIU/L (high)"
    )
    InboxItem.objects.filter(pk=late.pk).update(escalate_at=timezone.now())
    assert items_escalate() == 1

    browser_login(page, house)
    page.goto("/")
    expect(page.locator("[data-testid=inbox-count-mine]")).to_have_text("5")
    _shot(page, "inbox_home")
    page.click("nav.mainnav >> text=Inbox")
    page.wait_for_url("**/inbox/")
    rows = page.locator("[data-testid=inbox-item]")
    expect(rows).to_have_count(5)
    expect(rows.first).to_have_attribute("data-priority", "critical")
    expect(rows.first).to_contain_text("Potassium: 6.9 mmol/L")
    expect(rows.nth(1)).to_contain_text("Escalated to you")  # abnormal, newer than the LDL one
    expect(rows.nth(2)).to_contain_text("LDL cholesterol")
    _shot(page, "inbox_list")

    # Open the critical result in place and sign it off with a comment.
    row = page.locator(f"#item-{critical.pk}")
    row.locator("a.ibx-title").click()
    panel = row.locator("[data-testid=inbox-panel]")
    expect(panel).to_contain_text("Reference range 3.5-5.1 mmol/L.")
    _shot(page, "inbox_open_critical")
    panel.locator("[data-testid=sign-form] button").click()  # no comment: refused in place
    expect(page.locator(f"#item-{critical.pk}")).to_contain_text("Write a few words.")
    page.locator(f"#item-{critical.pk} [data-testid=sign-form] textarea").fill(
        "Called patient; ED for repeat K."
    )
    page.locator(f"#item-{critical.pk} [data-testid=sign-form] button").click()
    expect(page.locator(f"#item-{critical.pk}")).to_contain_text("Signed off.")
    assert page.url.endswith("/inbox/")  # in place: no page load
    critical.refresh_from_db()
    assert critical.state == State.DONE and critical.comment == "Called patient; ED for repeat K."

    # Forward the abnormal result to a colleague with a note.
    row = page.locator(f"#item-{abnormal.pk}")
    row.locator("a.ibx-title").click()
    form = row.locator("[data-testid=forward-form]")
    form.locator("select").select_option(label="James Wilson")
    form.locator("textarea").fill("Your patient for lipids now")
    form.locator("button").click()
    expect(page.locator(f"#item-{abnormal.pk}")).to_contain_text("Forwarded to James Wilson.")
    abnormal.refresh_from_db()
    assert abnormal.assignee == wilson
    assert (
        InboxEvent.objects.get(item=abnormal, kind=EventKind.FORWARDED).note == "Your patient for lipids now"
    )

    # A follow-up task from the normal result: "Repeat test in 3 months", due on the date picked.
    row = page.locator(f"#item-{normal.pk}")
    row.locator("a.ibx-title").click()
    form = row.locator("[data-testid=task-form]")
    form.locator(
        "button[data-task-title='Repeat test in 3 months']"
    ).click()  # the preset fills title and date
    expect(form.locator("input[name=title]")).to_have_value("Repeat test in 3 months")
    form.locator("input[name=due]").fill("2030-03-15")  # and the clinician may pick another date
    form.locator("button[type=submit]").click()
    expect(page.locator(f"#item-{normal.pk}")).to_contain_text("Task created for you, due 03/15/2030")
    _shot(page, "inbox_after_actions")
    task = InboxItem.objects.get(kind=Kind.TASK, parent=normal)
    assert task.assignee == house and task.due_at.date().isoformat() == "2030-03-15"

    # A fresh look: the critical one is gone, the new task is there, the count on the home page follows.
    page.goto(reverse("inbox:inbox"))
    expect(page.locator("[data-testid=inbox-item]")).to_have_count(4)
    expect(page.locator(f"#item-{task.pk}")).to_contain_text("Due 03/15/2030")
    page.goto("/")
    expect(page.locator("[data-testid=inbox-count-mine]")).to_have_text("4")
