"""The reference Python clients against the live test server with a real bearer token: SMART's `fhirclient` (read,
search, count, paging) and `fhirpy` (search with .count(), .sort(), .include(), .limit() and paging through next
links, .get(), and a refused parameter raised as the OperationOutcome)."""

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

    # Reads of an Observation (a vital sign: "<row>-<measurement>") come back as that Observation.
    obs = Observation.read(ids[0], server)
    assert obs.id == ids[0] and obs.subject.reference == f"Patient/{patient.pk}"


def test_fhirpy_count_sort_include_limit_and_paging(live_server, make_token, clinician, patient, chart):
    from fhirpy import SyncFHIRClient
    from fhirpy.base.exceptions import OperationOutcome

    client = SyncFHIRClient(
        f"{live_server.url}/fhir", authorization=f"Bearer {make_token(clinician, 'user/*.read')}"
    )
    encounters = client.resources("Encounter").search(patient=str(patient.pk))
    assert encounters.count() == 2  # _count=0&_totalMethod=count
    assert [e.id for e in encounters.sort("date").fetch()] == [str(chart.enc1.pk), str(chart.enc2.pk)]
    assert [e.id for e in encounters.sort("-date").fetch()] == [str(chart.enc2.pk), str(chart.enc1.pk)]
    assert client.resources("Patient").search(family=patient.family_name).get().id == str(patient.pk)

    # .include(): the prescriber comes in the same bundle, marked as included; fetch() keeps the matches.
    rx = client.resources("MedicationRequest").search(patient=str(patient.pk))
    bundle = rx.include("MedicationRequest", "requester").fetch_raw()
    modes = {(e.resource.resourceType, e.search.mode) for e in bundle.entry}
    assert modes == {("MedicationRequest", "match"), ("Practitioner", "include")}
    assert [r.id for r in rx.include("MedicationRequest", "requester").fetch()] == [str(chart.rx.pk)]

    # .limit() pages; iterating follows the next links to the same list as one big page, in the sorted order.
    observations = client.resources("Observation").search(patient=str(patient.pk)).sort("-date")
    whole = observations.limit(100).fetch()
    assert len(observations.limit(3).fetch()) == 3
    assert [o.id for o in observations.limit(3).fetch_all()] == [o.id for o in whole]
    dates = [o.effectiveDateTime for o in whole]
    assert dates == sorted(dates, reverse=True) and len(whole) >= 7

    with pytest.raises(OperationOutcome) as refused:
        encounters.sort("reason").fetch()
    assert "_sort" in str(refused.value)
