"""Named sizes for `manage.py seed --size` and `manage.py bench --size`."""

from __future__ import annotations

SIZES: dict[str, dict[str, int]] = {
    # seconds: the smoke test in CI
    "ci": {"patients": 2_000, "audit_events": 20_000, "encounters": 3_000},
    # a developer's laptop: a few minutes
    "small": {"patients": 100_000, "audit_events": 1_000_000, "encounters": 300_000},
    # the clinic network of the issue
    "full": {"patients": 1_000_000, "audit_events": 10_000_000, "encounters": 5_000_000},
}

# Share of patients the bench clinician holds care-team grants on (plus the named benchmark patients).
GRANT_FRACTION = 0.10
# Share of patients whose encrypted identifiers and contacts are filled (AES-GCM in Python is the slow part).
ENCRYPTED_FRACTION = 0.01
# Months of audit history.
AUDIT_MONTHS = 12
# Providers (clinicians) who act in the audit trail and own encounters.
PROVIDERS = 50
