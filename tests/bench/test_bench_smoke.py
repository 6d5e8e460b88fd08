"""Smoke test of the benchmark: seed --size ci into the test database, run the bench for one round, and check
that every figure has a value or says why it was skipped. Numbers are not asserted (CI machines vary)."""

import json

import pytest
from django.core.management import call_command
from django.db import connection

from bench import seeders

SEARCH = [f"search_{k}_{p}" for k in ("mrn", "name_prefix", "typo", "dob") for p in ("p50", "p95")]
EVERY = [
    *SEARCH,
    "door_fetch_ratio",
    "door_chart_ratio",
    "audit_report_30d_p95",
    "audit_report_12m_p95",
    "audit_verify_rate",
    "fhir_import_rate",
    "erx_sign_to_delivered_p95",
    "calendar_day_20_providers",
    "http_chart_c8",
    "http_chart_c32",
    "http_search_c8",
    "http_search_c32",
]


def _scalar(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


# transactional: the gunicorn workers of the HTTP figure read the seeded rows from their own connections
@pytest.mark.django_db(transaction=True)
def test_seed_ci_then_bench_one_round(tmp_path):
    call_command("seed", size="ci")

    assert _scalar("SELECT count(*) FROM patients_patient") == 2000
    # seeded events landed in monthly partitions, not in the default one
    assert _scalar("SELECT count(*) FROM audit_accessevent") >= 20000
    assert _scalar("SELECT count(*) FROM ONLY audit_accessevent_default") == 0
    # name_search is what the product computes, so search finds seeded patients
    from patients.selectors import name_search_text
    from patients.services import mrn_is_valid

    row = _row(
        "SELECT given_name, middle_name, family_name, name_search, mrn FROM patients_patient "
        "WHERE family_name <> %s LIMIT 1",
        [seeders.BENCH_FAMILY],
    )
    assert row[3] == name_search_text(given=row[0], middle=row[1], family=row[2])
    assert mrn_is_valid(row[4])

    out = tmp_path / "bench.json"
    call_command(
        "bench",
        size="ci",
        rounds=1,
        repeat=2,
        json=str(out),
        no_seed=True,
        http_duration=1,
        http_rounds=1,
        http_workers=2,
    )
    result = json.loads(out.read_text())
    figures = result["figures"]
    for key in EVERY:
        assert key in figures, key
    chart = [k for k in figures if k.startswith("chart")]
    assert chart, "no chart figure"
    for key, fig in figures.items():
        assert "skipped" in fig or isinstance(fig.get("median"), int | float), (key, fig)
        if "skipped" in fig:
            assert fig["skipped"].strip(), key
    assert result["meta"]["size"] == "ci"
    # the bench's own reads went through the one door and were recorded
    assert (
        _scalar(
            "SELECT count(*) FROM audit_accessevent WHERE actor_username = %s AND category = %s",
            [seeders.BENCH_CLINICIAN, "patient list"],
        )
        > 0
    )


def _row(sql, params):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()
