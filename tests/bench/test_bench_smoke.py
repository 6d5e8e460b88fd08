"""Smoke test of the benchmark: seed --size ci into the test database, check the seeded rows are what the product
would have written, run the bench for one round, and check that every figure has a value or says why it was
skipped. Numbers are not asserted (CI machines vary). Without wrk only the HTTP figures are skipped, with a note."""

import json
import shutil

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings

from bench import seeders

SEARCH = [f"search_{k}_{p}" for k in ("mrn", "name_prefix", "typo", "dob") for p in ("p50", "p95")]
EVERY = [
    *SEARCH,
    *[f"chart_e{n}_{p}" for n in (10, 100, 1000) for p in ("p50", "p95", "queries")],
    "chart_cached_p50",
    "chart_cached_p95",
    "chart_cached_queries",
    "door_fetch_ratio",
    "door_chart_ratio",
    "door_chart_cached_ratio",
    "calendar_day_20_providers_p95",
    "calendar_day_all_providers_p95",
    "inbox_p95",
    "inbox_queries",
    "audit_report_30d_p95",
    "audit_report_12m_p95",
    "audit_verify_rate",
    "fhir_import_rate",
    "fhir_import_resources_per_s",
    "fhir_bulk_export_resources_per_s",
    "erx_sign_to_delivered_p95",
    "hl7_ingest_messages_per_s",
    "http_chart_c8",
    "http_chart_c32",
    "http_search_c8",
    "http_search_c32",
    "http_chart_cold_c8",
]


def _scalar(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def _row(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


# transactional: the gunicorn workers of the HTTP figure and the Celery worker of the e-prescription figure read
# the seeded rows from their own connections
@pytest.mark.django_db(transaction=True)
def test_seed_ci_then_bench_one_round(tmp_path):
    call_command("seed", size="ci")

    assert _scalar("SELECT count(*) FROM patients_patient") == 2000
    assert _scalar("SELECT count(*) FROM encounters_encounter") == 3000
    assert _scalar("SELECT count(*) FROM encounters_appointment") == 2000
    # seeded events landed in monthly partitions, not in the default one, and are chained
    # (besides them, the reference rows the seed writes through the ORM, rooms, appointment types and a location,
    # are write-logged like any other write: channel "write")
    assert _scalar("SELECT count(*) FROM audit_accessevent WHERE channel <> 'write'") == 20000
    seed_writes = _scalar("SELECT count(*) FROM audit_accessevent WHERE channel = 'write'")
    assert _scalar("SELECT count(*) FROM ONLY audit_accessevent_default") == 0
    assert _scalar("SELECT count(*) FROM audit_unlinked") == 0
    # the chart-version triggers were off for the load and every version was bumped once at its end, not once per
    # COPY chunk of each clinical table; the switch is off again afterwards
    assert _row("SELECT min(chart_version), max(chart_version) FROM patients_patient") == (1, 1)
    from encounters.models import Allergy

    pid = _scalar("SELECT patient_id FROM encounters_encounter LIMIT 1")
    Allergy.objects.create(patient_id=pid, substance_text="Latex", category="environment")
    assert _scalar("SELECT chart_version FROM patients_patient WHERE id = %s", [pid]) == 2
    _the_seeded_rows_are_what_the_product_writes(seed_writes)

    out = tmp_path / "bench.json"
    call_command(
        "bench",
        size="ci",
        rounds=1,
        repeat=2,
        sample=5,
        json=str(out),
        markdown=str(tmp_path / "bench.md"),
        no_seed=True,
        http_duration=1,
        http_rounds=1,
        http_workers=2,
        fhir_bundles=1,
        erx_rate=5,
        erx_seconds=1,
        hl7_messages=20,
        hl7_connections=2,
    )
    result = json.loads(out.read_text())
    figures = result["figures"]
    for key in EVERY:
        assert key in figures, key
    for key, fig in figures.items():
        assert "skipped" in fig or isinstance(fig.get("median"), int | float), (key, fig)
        if "skipped" in fig:
            assert fig["skipped"].strip(), key
            # only the HTTP figures may be skipped, and only when wrk is missing
            assert key.startswith("http_") and not shutil.which("wrk"), (key, fig["skipped"])
    assert figures["chart_e1000_queries"]["median"] == figures["chart_e10_queries"]["median"]
    # a repeat view reads nothing of the body: the door's read and its access event, besides the session
    assert figures["chart_cached_queries"]["median"] < figures["chart_e10_queries"]["median"] - 5
    assert figures["erx_sign_to_delivered_p95"]["detail"]["not_delivered_in_30s"] == 0
    # every ORU^R01 sent over MLLP was ACKed AA and filed exactly once
    ingest = figures["hl7_ingest_messages_per_s"]
    assert ingest["median"] > 0 and ingest["detail"]["errors"] == ingest["detail"]["not_filed_once"] == 0
    # the bulk export figure exported the clinician's patients (10% of 2,000 plus the named ones), every line counted
    bulk = figures["fhir_bulk_export_resources_per_s"]
    team = _scalar(
        "SELECT count(DISTINCT c.patient_id) FROM patients_careteammember c JOIN auth_user u ON u.id = c.user_id "
        "WHERE u.username = %s",
        [seeders.BENCH_CLINICIAN],
    )
    assert bulk["median"] > 0 and bulk["detail"]["patients"] == team > 100
    assert bulk["detail"]["resources_per_round"] > bulk["detail"]["patients"]
    # the import figure counts every resource of the bundles imported, mapped and kept
    assert figures["fhir_import_rate"]["detail"]["resources_per_round"] == _entries_of_first_bundle()
    assert result["meta"]["size"] == "ci" and result["meta"]["machine"]["nproc"]
    assert "| figure |" in (tmp_path / "bench.md").read_text()
    # the bench's own reads went through the one door and were recorded
    assert (
        _scalar(
            "SELECT count(*) FROM audit_accessevent WHERE actor_username = %s AND category = %s",
            [seeders.BENCH_CLINICIAN, "patient list"],
        )
        > 0
    )


def _entries_of_first_bundle() -> int:
    from bench.fhir import bundle_texts

    return len(json.loads(bundle_texts()[0])["entry"])


def _the_seeded_rows_are_what_the_product_writes(seed_writes: int):
    from audit.services import audit_verify
    from encounters.models import (
        Allergy,
        Encounter,
        Immunization,
        MedicationStatement,
        Note,
        Observation,
        Problem,
        VitalSigns,
    )
    from encounters.notes import note_hash
    from patients.models import CareTeamMember, Patient
    from patients.selectors import name_search_text
    from patients.services import mrn_is_valid
    from prescriptions.models import Prescription, PrescriptionEvent
    from scheduling.models import Appointment

    # name_search is what the product computes, so search finds seeded patients; MRNs carry their check digit
    row = _row(
        "SELECT given_name, middle_name, family_name, name_search, mrn FROM patients_patient "
        "WHERE family_name <> %s LIMIT 1",
        [seeders.BENCH_FAMILY],
    )
    assert row[3] == name_search_text(given=row[0], middle=row[1], family=row[2])
    assert mrn_is_valid(row[4])
    # every model's own validation and database constraints accept a sample of each seeded table
    for model in (
        Patient,
        CareTeamMember,
        Encounter,
        Note,
        VitalSigns,
        Observation,
        Problem,
        Allergy,
        Immunization,
        MedicationStatement,
        Prescription,
        PrescriptionEvent,
        Appointment,
    ):
        for obj in model.objects.order_by("?")[:25]:
            obj.full_clean()
    # signed notes carry the hash the product computes; the hash chain verifies from the first link
    for note in Note.objects.order_by("?")[:50]:
        assert note.signed and note.content_hash == note_hash(note)
    with override_settings(AUDIT_LINK_MAX_LAG_SECONDS=3650 * 86400):
        verified = audit_verify(link_first=False)
    assert verified.ok and verified.checked == 20000 + seed_writes, verified
    # the allergy banner says what the active allergies are
    p = Patient.objects.filter(allergy_status="has").first()
    assert p.allergy_summary and all(
        a.substance_text in p.allergy_summary for a in Allergy.objects.filter(patient=p, status="active")
    )
