"""The reference SMART Python client (`fhirclient`) against the live test server: read, search, count, paging.

(fhirpy is not run here yet: see docs/fhir.md.)
"""

import pytest
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(live_server, make_token, clinician):
    s = FHIRServer(None, base_uri=f"{live_server.url}/fhir/")
    s.session.headers["Authorization"] = f"Bearer {make_token(clinician, 'user/*.read')}"
    return s


def test_fhirclient_read_search_count_and_paging(server, patient, chart):
    read = Patient.read(str(patient.pk), server)
    assert read.id == str(patient.pk)
    assert read.name[0].family == patient.family_name

    found = Patient.where(struct={"family": patient.family_name}).perform_resources(server)
    assert [p.id for p in found] == [str(patient.pk)]

    count = Patient.where(struct={"_summary": "count"}).perform(server)
    assert count.total == 1
    assert not count.entry

    # The patient's observations in pages of 3: the client follows the next links to the same set as one page.
    everything = Observation.where(struct={"patient": str(patient.pk), "_count": "100"}).perform(server)
    total = everything.total
    assert total >= 7
    search = Observation.where(struct={"patient": str(patient.pk), "_count": "3"})
    pages = list(search.perform_iter(server))
    assert [p.total for p in pages] == [total] * len(pages)
    assert len(pages) == -(-total // 3), (total, len(pages))
    ids = [o.id for o in search.perform_resources_iter(server)]
    assert ids == [e.resource.id for e in everything.entry]
