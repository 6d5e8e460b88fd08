"""The results-ingest figure on a small clinic: real listener, real MLLP sockets, every message filed once."""

import random

import pytest

from tests.factories import make_patient


@pytest.mark.django_db(transaction=True)
def test_ingest_figure_files_every_message_once(clinician, department):
    from bench.figures import Bench
    from bench.hl7 import fig_hl7_ingest
    from encounters.models import Observation
    from orders.models import InboundMessage, Order, ResultReport
    from patients.services import care_team_grant

    for i in range(5):
        p = make_patient(department=department, given_name=f"Ingest{i}", family_name="Sample")
        care_team_grant(patient=p, user=clinician, care_role="Primary care physician")
    b = Bench(rounds=2, rng=random.Random(1), out=print, clinician=clinician)
    fig_hl7_ingest(b, messages=30, connections=3)
    fig = b.results["hl7_ingest_messages_per_s"]
    print(fig)
    assert fig["median"] > 0 and fig["detail"]["errors"] == 0 and fig["detail"]["not_filed_once"] == 0
    # 20 warm-up messages and 2 rounds of 30: each filed once, to its order, with its four values
    assert InboundMessage.objects.filter(status="filed").count() == 80
    assert (
        ResultReport.objects.filter(order__isnull=False).count()
        == Order.objects.filter(status="final").count()
        == 80
    )
    assert Observation.objects.filter(report_id__isnull=False).count() == 320
