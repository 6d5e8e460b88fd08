"""The prescribing safety checks: drug-drug interactions, drug-allergy (ingredient and class) and duplicate therapy,
for a drug about to be prescribed to a patient already fetched through the one door. Constant query count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q

from core.refdata import ingredient_key
from encounters import selectors as enc_selectors

from .models import Interaction, InteractionSeverity, Medication, MedicationIngredient

# Drug classes for allergy cross-sensitivity. A short hand-written list (not a compendium): an allergy recorded
# as the class name, or as any member, alerts on every member. Members are ingredient_key() values.
ALLERGY_CLASSES: dict[str, frozenset[str]] = {
    "penicillins": frozenset(
        {
            "penicillin",
            "penicillin g",
            "penicillin v",
            "amoxicillin",
            "ampicillin",
            "dicloxacillin",
            "nafcillin",
            "oxacillin",
            "piperacillin",
            "ticarcillin",
        }
    ),
    "nsaids": frozenset(
        {
            "ibuprofen",
            "naproxen",
            "diclofenac",
            "celecoxib",
            "meloxicam",
            "ketorolac",
            "indomethacin",
            "aspirin",
            "etodolac",
            "nabumetone",
            "piroxicam",
            "sulindac",
            "ketoprofen",
            "flurbiprofen",
            "oxaprozin",
            "diflunisal",
            "tolmetin",
            "mefenamic acid",
        }
    ),
    "sulfonamides": frozenset({"sulfamethoxazole", "sulfadiazine", "sulfasalazine", "sulfisoxazole"}),
    "cephalosporins": frozenset(
        {
            "cephalexin",
            "cefuroxime",
            "cefdinir",
            "ceftriaxone",
            "cefazolin",
            "cefpodoxime",
            "cefadroxil",
            "cefprozil",
        }
    ),
    "opioids": frozenset(
        {
            "morphine",
            "codeine",
            "oxycodone",
            "hydrocodone",
            "hydromorphone",
            "fentanyl",
            "tramadol",
            "methadone",
            "oxymorphone",
            "tapentadol",
        }
    ),
}
# What clinicians type for a class.
CLASS_ALIASES = {
    "penicillin": "penicillins",
    "penicillins": "penicillins",
    "pcn": "penicillins",
    "nsaid": "nsaids",
    "nsaids": "nsaids",
    "sulfa": "sulfonamides",
    "sulfa drugs": "sulfonamides",
    "sulfonamide": "sulfonamides",
    "sulfonamides": "sulfonamides",
    "cephalosporin": "cephalosporins",
    "cephalosporins": "cephalosporins",
    "opioid": "opioids",
    "opioids": "opioids",
}


@dataclass(frozen=True)
class Alert:
    severity: str  # "high" interrupts signing (override reason needed); "low" is shown inline
    source: str  # "drug-drug:<knowledge source>", "drug-allergy", "duplicate-therapy"
    message: str

    @property
    def key(self) -> str:
        return f"{self.source}|{self.message}"


def _allergy_classes(key: str) -> set[str]:
    found = {CLASS_ALIASES[key]} if key in CLASS_ALIASES else set()
    return found | {name for name, members in ALLERGY_CLASSES.items() if key in members}


def statement_ingredient_keys(statements) -> dict[str, set[str]]:
    """{statement name: ingredient keys}: by RxCUI through the catalog, else by words of the name."""
    by_rxcui: dict[str, set[str]] = {}
    rxcuis = [s.rxcui for s in statements if s.rxcui]
    for rxcui, key in MedicationIngredient.objects.filter(medication__rxcui__in=rxcuis).values_list(
        "medication__rxcui", "ingredient_key"
    ):
        by_rxcui.setdefault(rxcui, set()).add(key)
    unresolved = [s for s in statements if not by_rxcui.get(s.rxcui)]
    candidates: dict[str, set[str]] = {}
    for s in unresolved:
        words = re.findall(r"[a-z]+", s.name.lower())
        grams = (
            set(words)
            | {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
            | {ingredient_key(s.name)}
        )
        candidates[s.name] = grams
    known = set(
        MedicationIngredient.objects.filter(
            ingredient_key__in=set().union(*candidates.values()) if candidates else []
        )
        .values_list("ingredient_key", flat=True)
        .distinct()
    )
    out: dict[str, set[str]] = {}
    for s in statements:
        out[s.name] = by_rxcui.get(s.rxcui) or (candidates.get(s.name, set()) & known)
    return out


def _duplicate_alerts(keys: set[str], taken: dict[str, set[str]]) -> list[Alert]:
    return [
        Alert("low", "duplicate-therapy", f"Duplicate therapy: {k} is already active ({name}).")
        for name, their in taken.items()
        for k in sorted(keys & their)
    ]


def _interaction_alerts(keys: set[str], taken: dict[str, set[str]]) -> list[Alert]:
    """Drug-drug interactions between `keys` and the ingredients already taken (one query), each pair once."""
    all_taken = set().union(*taken.values()) if taken else set()
    if not (keys and all_taken):
        return []
    pairs = Interaction.objects.filter(
        Q(key_a__in=keys, key_b__in=all_taken) | Q(key_b__in=keys, key_a__in=all_taken)
    ).order_by("-severity", "key_a", "key_b")
    alerts, seen = [], set()
    for ix in pairs:
        mark = (ix.key_a, ix.key_b, ix.severity)
        if mark in seen:
            continue
        seen.add(mark)
        other = ix.key_b if ix.key_a in keys else ix.key_a
        names = ", ".join(n for n, ks in taken.items() if other in ks)
        mine = ix.key_a if other == ix.key_b else ix.key_b
        alerts.append(
            Alert(
                ix.severity,
                f"drug-drug:{ix.source}",
                f"Interaction: {mine} + {other} (active: {names}). {ix.description}".strip(),
            )
        )
    return alerts


def _allergy_alert(allergy, keys: set[str], rxcuis: set[str]) -> Alert | None:
    """The alert one active allergy raises: the ingredient itself, else the first allergy class it shares."""
    akey = ingredient_key(allergy.substance_text)
    if (allergy.substance_rxcui and allergy.substance_rxcui in rxcuis) or akey in keys:
        reaction = f" ({allergy.reaction})" if allergy.reaction else ""
        return Alert(
            "high", "drug-allergy", f"Allergy: the patient is allergic to {allergy.substance_text}{reaction}."
        )
    for cls in _allergy_classes(akey):
        hit = keys & ALLERGY_CLASSES[cls]
        if hit:
            return Alert(
                "high",
                "drug-allergy",
                f"Class allergy: {allergy.substance_text} ({cls}); {', '.join(sorted(hit))} "
                "is in the same class.",
            )
    return None


def prescription_check(*, patient, medication: Medication) -> list[Alert]:
    """Drug-drug, drug-allergy (ingredient and class) and duplicate-therapy alerts for prescribing `medication`.

    `patient` was fetched through patient_get by the caller. Runs a constant number of queries.
    """
    ingredients = list(medication.ingredients.all())
    keys = {i.ingredient_key for i in ingredients}
    rxcuis = {i.ingredient_rxcui for i in ingredients if i.ingredient_rxcui}
    taken = statement_ingredient_keys(enc_selectors.medications_active(patient=patient))
    alerts = _duplicate_alerts(keys, taken) + _interaction_alerts(keys, taken)
    for allergy in enc_selectors.allergies_active(patient=patient):
        alert = _allergy_alert(allergy, keys, rxcuis)
        if alert is not None:
            alerts.append(alert)
    severity_order = {InteractionSeverity.HIGH: 0, InteractionSeverity.LOW: 1}
    return sorted(alerts, key=lambda a: severity_order.get(a.severity, 2))
