"""Demo inbox (development only; `ehr/management/commands/demo_data.py` calls demo_build after the prescriptions).

dr.house gets a full inbox: the pharmacy's renewal and change requests (from prescriptions' demo), a critical
result and abnormal results from the demo's laboratory rows (the orders app will post real ones), follow-up tasks
(one overdue), an item dr.grey forwarded with a note, and one of dr.grey's items escalated to him as her
coverage. A "Family Medicine team" (dr.house, dr.grey, nurse.joy) has a team queue with a task and an item
escalated there.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import roles
from encounters.models import Interpretation, Observation
from patients.access import visible_patients

from . import escalation, sources
from .models import Coverage, EventKind, InboxEvent, InboxItem, Kind, Priority

TEAM = "Family Medicine team"


def _label(obs: Observation) -> str:
    value = f"{obs.value_quantity.normalize():f}" if obs.value_quantity is not None else obs.value_text
    flag = obs.get_interpretation_display().lower()
    name = obs.display.split(" [")[0]  # "Cholesterol [Mass/volume] in Serum or Plasma" -> "Cholesterol"
    return f"{name}: {value} {obs.value_unit} ({flag})".replace("  ", " ")


def _results(house) -> list[InboxItem]:
    """Result items from the demo's laboratory rows with an abnormal flag, on dr.house's patients: the highest
    value becomes the critical one (its flag raised to critically high)."""
    mine = visible_patients(house, roles.VIEW_CLINICAL).values("pk")
    rows = list(
        Observation.objects.filter(patient__in=mine, interpretation__in=["H", "L", "HH", "LL", "A"])
        .select_related("patient")
        .order_by("-value_quantity")[:9]
    )
    made = []
    for i, obs in enumerate(rows):
        critical = i == 0
        if critical:
            obs.interpretation = Interpretation.CRITICAL_HIGH
            obs.save(update_fields=["interpretation"])
        item, _ = sources.result_post(
            source_ref=f"observation:{obs.pk}",
            patient=obs.patient,
            clinician=house,
            title=_label(obs),
            is_critical=critical,
            is_abnormal=True,
            detail=f"Reference range {obs.reference_low or ''}-{obs.reference_high or ''} {obs.value_unit}; "
            f"collected {obs.effective:%m/%d/%Y}.",
            link_name="encounters:results",
            link_args=[obs.patient_id],
        )
        made.append(item)
    return made


def _task(*, patient, assignee, creator, title, due_days, team=None, parent=None) -> InboxItem:
    now = timezone.now()
    due = now + timedelta(days=due_days)
    item = InboxItem.objects.create(
        kind=Kind.TASK,
        patient=patient,
        assignee=assignee,
        team=team,
        title=title,
        created_by=creator,
        parent=parent,
        due_at=due,
        escalate_at=sources.escalate_at(Kind.TASK, start=now, due_at=due),
        link_name="patients:detail",
        link_args=[str(patient.pk)],
    )
    InboxEvent.objects.create(
        item=item, patient=patient, kind=EventKind.POSTED, actor=creator, to_user=assignee
    )
    return item


def demo_build(*, patients, providers, front_desk, rng) -> None:
    house = next((u for u in providers if u.get_username() == "dr.house"), providers[0])
    grey = next((u for u in providers if u.get_username() == "dr.grey"), providers[-1])
    quinn = next((u for u in providers if u.get_username() == "dr.quinn"), providers[-1])
    team, _ = Group.objects.get_or_create(name=TEAM)
    team.user_set.add(house, grey, *type(house).objects.filter(username="nurse.joy"))
    Coverage.objects.update_or_create(clinician=grey, defaults={"covering": house, "team": team})
    Coverage.objects.update_or_create(clinician=house, defaults={"covering": quinn, "team": team})

    sources.pharmacy_requests_sync()
    results = _results(house)
    theirs = list(visible_patients(house, roles.VIEW_CLINICAL).filter(pk__in=[p.pk for p in patients])[:6])
    if not theirs:
        return
    theirs = [theirs[i % len(theirs)] for i in range(5)]  # a small demo has fewer patients than showcases
    # Follow-up tasks: one due tomorrow, one overdue, one for the team.
    _task(
        patient=theirs[0],
        assignee=house,
        creator=house,
        title="Call patient about the new blood pressure medicine",
        due_days=1,
    )
    _task(
        patient=theirs[1], assignee=house, creator=house, title="Repeat lipid panel in 3 months", due_days=-2
    )
    _task(
        patient=theirs[2],
        assignee=None,
        team=team,
        creator=house,
        title="Schedule a diabetes education visit",
        due_days=5,
    )
    # A result dr.grey read and forwarded to dr.house, with a note.
    grey_item, _ = sources.post_item(
        kind=Kind.RESULT,
        priority=Priority.ABNORMAL,
        title="Potassium: 5.6 mmol/L (high)",
        source_ref="demo:forwarded-potassium",
        patient=theirs[3],
        assignee=grey,
        detail="Reference range 3.5-5.1 mmol/L.",
        link_name="encounters:results",
        link_args=[theirs[3].pk],
    )
    if grey_item.assignee_id == grey.pk:
        grey_item.assignee = house
        grey_item.save(update_fields=["assignee", "updated_at"])
        InboxEvent.objects.create(
            item=grey_item,
            patient=theirs[3],
            kind=EventKind.FORWARDED,
            actor=grey,
            to_user=house,
            note="Your patient: on lisinopril and spironolactone. Please review.",
        )
    # One of dr.grey's results that sat too long: escalated to dr.house (her coverage) and the team.
    late, _ = sources.post_item(
        kind=Kind.RESULT_TO_SIGN,
        priority=Priority.ABNORMAL,
        title="TSH: 7.9 mIU/L (high)",
        source_ref="demo:escalated-tsh",
        patient=theirs[4],
        assignee=grey,
        link_name="encounters:results",
        link_args=[theirs[4].pk],
    )
    InboxItem.objects.filter(pk=late.pk).update(
        escalate_at=timezone.now() - timedelta(minutes=1), created_at=timezone.now() - timedelta(days=4)
    )
    escalation.items_escalate()
    # Older items first in time: spread the results over the last days.
    for i, item in enumerate(results):
        InboxItem.objects.filter(pk=item.pk).update(created_at=timezone.now() - timedelta(hours=3 + 9 * i))
