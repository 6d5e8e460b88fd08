"""What the fuzz suite found, kept as explicit examples (each failed before its fix) and run with a few generated
neighbours: oversized and malformed bodies on the endpoints that read the raw body."""

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzz import checks
from tests.fuzz.strategies import MALFORMED_JSON, MALFORMED_XML

pytestmark = pytest.mark.django_db
BODIES = st.sampled_from([*MALFORMED_XML, *MALFORMED_JSON, b"", b"x" * 10_000])


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the client holds no state between bodies
)
@given(body=BODIES, ctype=st.sampled_from(["application/xml", "application/x-www-form-urlencoded"]))
# Found by test_fuzz_urls[prescriptions]: a body over DATA_UPLOAD_MAX_MEMORY_SIZE answered 503 "retry later" (the
# view's fail-closed branch caught RequestDataTooBig): a permanent refusal, 413.
@example(body=b"a=" + b"x" * 3_000_000, ctype="application/x-www-form-urlencoded")
def test_inbound_refuses_bad_bodies_without_a_retry(client, body, ctype):
    checks.COUNT["requests"] += 1
    r = client.post(reverse("prescriptions:inbound"), data=body, content_type=ctype)
    assert r.status_code < 500, r.status_code
    if len(body) > 2_621_440:
        assert r.status_code in (400, 413)  # refused for good (the edge may read the form first), not "retry"
