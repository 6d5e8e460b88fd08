"""The test catalogue and the performing labs: loaded from data/orders/lab_tests.json (data/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction

from .models import LabTest, PerformingLab

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "orders" / "lab_tests.json"


def catalogue_entries() -> list[dict]:
    return json.loads(CATALOGUE.read_text())["tests"]


@transaction.atomic
def catalog_load() -> int:
    """Create or update every catalogue entry (idempotent). Returns how many entries there are."""
    entries = catalogue_entries()
    for e in entries:
        LabTest.objects.update_or_create(
            loinc=e["loinc"],
            defaults={
                "name": e["name"],
                "kind": e["kind"],
                "specimen": e.get("specimen", ""),
                "container": e.get("container", ""),
                "questions": e.get("questions", []),
                "components": e.get("components", []),
                "active": True,
            },
        )
    return len(entries)


def lab_ensure(*, name: str, facility: str, application: str, host: str = "", port: int | None = None):
    lab, _ = PerformingLab.objects.update_or_create(
        facility=facility,
        defaults={"name": name, "application": application, "host": host, "port": port, "active": True},
    )
    return lab
