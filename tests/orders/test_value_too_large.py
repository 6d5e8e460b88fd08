"""A result value the chart cannot hold as sent (more digits than the column keeps) is refused with the reason named,
never rounded or cut; the message is kept and nothing of it is filed."""

import pytest

from encounters.models import Observation
from orders.models import InboundMessage, InboundStatus

from .test_hl7 import hl7wire, ident, oru, receive, sign


@pytest.mark.django_db
def test_a_value_too_large_to_store_is_refused_with_its_reason(clinician, patient, catalogue, lab, icd10):
    order = sign(clinician, patient, catalogue["51990-0"], lab)
    rows = [hl7wire.ResultRow("2339-0", "Glucose", "5.123456789012345", "NM", "mg/dL", "70-99", "H", "F")]
    code, text = receive(oru(ident(patient), placer=order.placer_number, rows=rows))[:2]
    assert code != "AA"
    msg = InboundMessage.objects.latest("received_at")
    assert msg.status == InboundStatus.REJECTED
    assert "cannot be stored as sent" in msg.outcome and "digits" in msg.outcome
    assert not Observation.objects.filter(patient=patient).exists()
