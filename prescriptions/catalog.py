"""The drug catalog and interaction knowledge importer.

Takes iterators, so the demo/test install (``core.refdata``, the public lists shipped in data/) and a production
install (a licensed compendium converted to the same record shape) go through the same code. Idempotent:
products are upserted on RxCUI, interactions on (key_a, key_b, source). Not patient data: no access check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from django.db import transaction

from core.refdata import ingredient_key

from .models import Interaction, Medication, MedicationIngredient

# RxNorm term types that name something a pharmacy can dispense; ingredient and brand-level rows are kept
# (inactive) so that a MedicationStatement coded at that level still resolves to ingredients.
PRESCRIBABLE_TTYS = frozenset({"SCD", "SBD", "GPCK", "BPCK"})
INGREDIENT_LEVEL_TTY = "IN/MIN/BN/other"
BATCH = 1000


def _batches(rows: Iterable[Any], size: int = BATCH):
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def catalog_import_products(*, products: Iterable[Mapping[str, Any]], schedules: Mapping[str, str]) -> int:
    """Upsert products (``iter_rxnorm_products`` shape) and replace their ingredient rows. Returns the count."""
    count = 0
    for batch in _batches(products):
        meds = [
            Medication(
                rxcui=p["rxcui"],
                name=p["name"][:500],
                strength=(p.get("strength") or "")[:200],
                dose_form=(p.get("dose_form") or "")[:100],
                tty=(p.get("tty") or "")[:20],
                dea_schedule=schedules.get(p["rxcui"], ""),
                is_active=p.get("tty") in PRESCRIBABLE_TTYS,
            )
            for p in batch
        ]
        with transaction.atomic():
            Medication.objects.bulk_create(
                meds,
                update_conflicts=True,
                unique_fields=["rxcui"],
                update_fields=["name", "strength", "dose_form", "tty", "dea_schedule", "is_active"],
            )
            ids = dict(
                Medication.objects.filter(rxcui__in=[m.rxcui for m in meds]).values_list("rxcui", "id")
            )
            MedicationIngredient.objects.filter(medication_id__in=ids.values()).delete()
            ingredients = []
            for p in batch:
                parts = list(p.get("ingredients") or [])
                if not parts and p.get("tty") == INGREDIENT_LEVEL_TTY:
                    parts = [{"name": p["name"], "rxcui": p["rxcui"]}]  # the row is the ingredient itself
                seen = set()
                for part in parts:
                    key = ingredient_key(part["name"])
                    if key and key not in seen:
                        seen.add(key)
                        ingredients.append(
                            MedicationIngredient(
                                medication_id=ids[p["rxcui"]],
                                ingredient_key=key[:200],
                                ingredient_rxcui=part.get("rxcui") or "",
                                name=part["name"][:200],
                            )
                        )
            MedicationIngredient.objects.bulk_create(ingredients)
        count += len(meds)
    return count


def catalog_import_interactions(*, pairs: Iterable[Mapping[str, Any]]) -> int:
    """Upsert ingredient-pair interactions (``iter_ddi_pairs`` shape), the pair stored in sorted order."""
    count = 0
    for batch in _batches(pairs):
        rows = {}
        for r in batch:
            a, b = sorted((r["drug_a"]["key"], r["drug_b"]["key"]))
            if not a or a == b:
                continue
            rows[(a, b, r["source"])] = Interaction(
                key_a=a[:200],
                key_b=b[:200],
                severity=r["severity"],
                source=r["source"][:40],
                description=r.get("description") or "",
            )
        Interaction.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["key_a", "key_b", "source"],
            update_fields=["severity", "description"],
        )
        count += len(rows)
    return count


def catalog_load_reference() -> tuple[int, int]:
    """Load the shipped public lists (core.refdata). Used by `load_catalog` and the demo."""
    from core import refdata

    products = catalog_import_products(
        products=refdata.iter_rxnorm_products(), schedules=refdata.controlled_substance_schedules()
    )
    pairs = catalog_import_interactions(pairs=refdata.iter_ddi_pairs())
    return products, pairs
