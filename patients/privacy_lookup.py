"""The privacy officer's look-up of a patient by name and date of birth (audit's "who opened this chart").

Registered with audit in patients/apps.py (audit/subjects.py): audit never imports patients. Like the reports'
labels (audit/selectors.py), it reads the id, MRN, name and date of birth only, outside the door: the privacy
officer holds no permission on any patient, and the report records an event naming the patients it shows.
"""

from __future__ import annotations

from datetime import date

from .models import Patient
from .selectors import normalise_name

MAX_MATCHES = 20


def patients_by_name_and_birth_date(*, name: str, birth_date: date) -> list[dict]:
    """Patients born on `birth_date` whose names (current, preferred, previous; accents and case ignored) contain
    every word of `name`. Merged duplicates are left out (their history is the survivor's). The date of birth
    narrows first (index patient_birth_date); at most MAX_MATCHES, by name."""
    words = normalise_name(name).split()
    if not words or birth_date is None:
        return []
    qs = Patient.objects.filter(birth_date=birth_date, merged_into__isnull=True)
    for word in words:
        qs = qs.filter(name_search__contains=word)
    return list(
        qs.order_by("family_name", "given_name", "mrn").values(
            "id", "mrn", "given_name", "family_name", "birth_date"
        )[:MAX_MATCHES]
    )
