"""The FHIR API fuzzed with real bearer tokens (the web fuzz only reaches its 401): every resource type and search
parameter the server's own CapabilityStatement lists, as every persona's user token, a patient-launch token, a
system token and none, with bad ids, bad parameter values, repeated parameters and unknown parameters.

Each answer must be below 500, an HTML answer must not reflect a probe, and a read writes nothing outside the audit
trail. `values` and `control` as in test_web.py (control characters are refused at the edge: issue 18, item 3).
"""

import itertools
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from tests.fhir.conftest import make_token  # noqa: F401 - the fixture
from tests.fuzz import checks
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.strategies import INVALID_IDS, bad_value

pytestmark = pytest.mark.django_db
_tokens = itertools.count(1)
EXTRA = ["_count", "_id", "_lastUpdated", "_sort", "_format", "_include", "_elements", "patient", "subject"]


@pytest.mark.parametrize("kind", ["values", "control"])
def test_fuzz_fhir(request, world, make_token, kind):  # noqa: F811
    client = Client()
    meta = client.get("/fhir/metadata").json()
    resources = {
        r["type"]: [p["name"] for p in r.get("searchParam", [])] for r in meta["rest"][0]["resource"]
    }
    patient = world.ctx.patient
    tokens = {p: make_token(u, "user/*.read") for p, u in world.users.items()}
    tokens["patient-launch"] = make_token(world.users["clinician"], "patient/*.read", patient=patient)
    tokens["system"] = make_token(None, "system/*.read", app_user=world.users["admin_user"])
    tokens["none"] = None
    real_ids = [str(patient.pk), str(world.ctx.other_patient.pk)]

    @fuzz_settings(request.config, 1, share=0.1)
    @given(data=st.data())
    def run(data):
        token = f"fz{next(_tokens)}q"
        bad = bad_value(token, kind)
        who = data.draw(st.sampled_from(sorted(tokens)), label="token")
        rtype = data.draw(st.one_of(st.sampled_from(sorted(resources)), bad), label="type")
        mode = data.draw(st.sampled_from(["read", "search", "search", "everything"]), label="mode")
        params = {}
        if mode == "read":
            rid = data.draw(st.one_of(st.sampled_from(real_ids + INVALID_IDS), bad), label="id")
            path = f"/fhir/{quote(rtype, safe='')}/{quote(rid, safe='')}"
        elif mode == "everything":
            rid = data.draw(st.one_of(st.sampled_from(real_ids + INVALID_IDS), bad), label="id")
            path = f"/fhir/Patient/{quote(rid, safe='')}/$everything"
        else:
            path = f"/fhir/{quote(rtype, safe='')}"
        names = resources.get(rtype, []) + EXTRA
        for name in data.draw(st.lists(st.sampled_from(names), max_size=4), label="params"):
            params[name] = data.draw(
                st.lists(st.one_of(st.sampled_from(real_ids), bad), min_size=1, max_size=2)
            )
        headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
        what = f"GET {path} {str(params)[:300]} with the {who} token ({kind})"
        with transaction.atomic():
            counters, since = checks.write_counters(), checks.next_xid()
            checks.COUNT["requests"] += 1
            resp = client.get(path, params, headers=headers)
            changed = checks.changed(checks.touched(counters, checks.write_counters()), since)
            transaction.set_rollback(True)
        assert resp.status_code < 500, f"{what}: {resp.status_code}"
        assert checks.reflected(resp, token) is None, f"{what}: a probe came back unescaped"
        assert not changed, f"{what}: a read wrote rows of {changed}"

    run()
