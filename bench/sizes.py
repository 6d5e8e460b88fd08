"""Named sizes for `manage.py seed --size` and `manage.py bench --size`, and the shapes of the seeded data."""

from __future__ import annotations

SIZES: dict[str, dict[str, int]] = {
    # seconds: the smoke test in CI
    "ci": {"patients": 2_000, "encounters": 3_000, "appointments": 2_000, "audit_events": 20_000},
    # a developer's laptop: a few minutes
    "small": {"patients": 100_000, "encounters": 500_000, "appointments": 100_000, "audit_events": 1_000_000},
    # the clinic network of the issue
    "full": {
        "patients": 1_000_000,
        "encounters": 5_000_000,
        "appointments": 1_000_000,
        "audit_events": 10_000_000,
    },
}
COUNT_KEYS = ("patients", "encounters", "appointments", "audit_events")

# Share of patients the bench clinician holds care-team grants on (plus the named benchmark patients).
GRANT_FRACTION = 0.10
# Share of patients whose encrypted identifiers, contacts and address are filled (AES-GCM in Python is the slow
# part); the named benchmark patients always have them, so the chart figures pay for decryption.
ENCRYPTED_FRACTION = 0.01
# Months of audit history.
AUDIT_MONTHS = 12
# Providers (clinicians) who act in the audit trail, own encounters and have a calendar.
PROVIDERS = 50

# Per patient (means of an exponential draw): problems and immunizations; share with allergies (1-3 each).
PROBLEMS_PER_PATIENT = 2.0
IMMUNIZATIONS_PER_PATIENT = 1.5
ALLERGY_FRACTION = 0.35
# Per encounter: every one has a signed note; shares with vitals, a lab panel (2-4 results), a prescription.
VITALS_FRACTION = 0.6
LAB_FRACTION = 0.25
RX_FRACTION = 0.3
