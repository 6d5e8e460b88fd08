"""Parsers for the public reference data shipped in ``data/`` (see ``data/SOURCES.md``).

Pure functions, standard library only: no Django, no database, no network. Importers (management
commands, fixtures, tests) call these and decide themselves what to store. Every reader accepts a
plain or a gzip-compressed file: if ``foo.csv`` is missing, ``foo.csv.gz`` is read (and vice versa).

Public API
    iter_rxnorm_products()          one dict per RxCUI of the derived RxNorm medication list
    iter_ddi_pairs()                ingredient-level drug-drug interaction pairs (ONC lists + 2 CDS rules)
    controlled_substance_schedules()   {rxcui: "II".."V"} for products in the CDC opioid-cds value sets
    iter_icd10cm()                  ICD-10-CM April-2026 codes as (code, description, billable)
    iter_loinc_vitals()             LOINC vital-sign codes with UCUM units
    ingredient_key()                name normaliser used to match ingredient names across sources
    synthea_bundle_paths()          the demo/test FHIR bundles
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - only parses files shipped in this repository
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, Any, NamedTuple

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

RXNORM_DIR = DATA_DIR / "rxnorm"
RXNORM_MEDICATIONS_CSV = RXNORM_DIR / "rxnorm_medications.csv.gz"

INTERACTIONS_DIR = DATA_DIR / "interactions"
ONC_HIGH_PRIORITY_DIR = INTERACTIONS_DIR / "onc-high-priority"
ONC_HIGH_PRIORITY_PAIRS_CSV = ONC_HIGH_PRIORITY_DIR / "onc_high_priority_ddi_pairs.csv"
ONC_HIGH_PRIORITY_RULES_CSV = ONC_HIGH_PRIORITY_DIR / "onc_high_priority_rules.csv"
ONC_NON_INTERRUPTIVE_DIR = INTERACTIONS_DIR / "onc-non-interruptive"
ONC_NON_INTERRUPTIVE_PAIRS_CSV = ONC_NON_INTERRUPTIVE_DIR / "onc_non_interruptive_ddi_pairs.csv"
ONC_NON_INTERRUPTIVE_RULES_CSV = ONC_NON_INTERRUPTIVE_DIR / "onc_non_interruptive_rules.csv"
PDDI_CDS_DIR = INTERACTIONS_DIR / "hl7-pddi-cds"
PDDI_NSAIDS_VALUESET_XML = PDDI_CDS_DIR / "valueset-NSAIDS-example.xml"
PDDI_WARFARIN_VALUESET_XML = PDDI_CDS_DIR / "valueset-warfarin.xml"

VALUESETS_DIR = DATA_DIR / "valuesets"
OPIOID_CDS_VALUESET_DIR = VALUESETS_DIR / "opioid-cds"
OPIOID_ANALGESICS_VALUESET_JSON = (
    OPIOID_CDS_VALUESET_DIR / "opioid-analgesics-with-ambulatory-misuse-potential.json"
)
BENZODIAZEPINE_VALUESET_JSON = OPIOID_CDS_VALUESET_DIR / "benzodiazepine-medications.json"

TERMINOLOGY_DIR = DATA_DIR / "terminology"
ICD10CM_CODES_CSV = TERMINOLOGY_DIR / "icd10cm_codes_2026_april.csv.gz"
LOINC_VITAL_SIGNS_CSV = TERMINOLOGY_DIR / "loinc_vital_signs.csv"
LOINC_NOTICE_TXT = TERMINOLOGY_DIR / "LOINC_NOTICE.txt"

FHIR_DIR = DATA_DIR / "fhir"
SYNTHEA_DIR = FHIR_DIR / "synthea"

SOURCE_ONC_HIGH_PRIORITY = "onc-high-priority"
SOURCE_ONC_NON_INTERRUPTIVE = "onc-non-interruptive"
SOURCE_PDDI_CDS = "hl7-pddi-cds"
SOURCE_CDC_OPIOID_CDS = "cdc-opioid-cds"
DDI_SOURCES = (SOURCE_ONC_HIGH_PRIORITY, SOURCE_ONC_NON_INTERRUPTIVE, SOURCE_PDDI_CDS, SOURCE_CDC_OPIOID_CDS)

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# tty_inferred value the RxNorm list uses for rows without strength and dose form (ingredients, brands, ...)
RXNORM_CONCEPT_TTY = "IN/MIN/BN/other"


# --------------------------------------------------------------------------------------------- files


def resolve_data_path(path: Path | str) -> Path:
    """Return ``path`` or its gzip twin (``x.csv`` <-> ``x.csv.gz``), whichever exists."""
    path = Path(path)
    if path.exists():
        return path
    twin = path.with_suffix("") if path.suffix == ".gz" else path.with_name(path.name + ".gz")
    if twin.exists():
        return twin
    raise FileNotFoundError(f"reference data file not found: {path} (nor {twin.name})")


def open_text(path: Path | str) -> IO[str]:
    """Open a shipped data file as UTF-8 text (BOM tolerated), decompressing ``.gz`` transparently."""
    real = resolve_data_path(path)
    if real.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(real, "rb"), encoding="utf-8-sig", newline="")
    return open(real, encoding="utf-8-sig", newline="")  # noqa: SIM115 - caller closes


def _read_csv(path: Path | str) -> list[dict[str, str]]:
    with open_text(path) as fh:
        return list(csv.DictReader(fh))


def _blank_to_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _split(value: str | None, sep: str) -> list[str]:
    return [part.strip() for part in (value or "").split(sep) if part.strip()]


# ------------------------------------------------------------------------------------ name matching

# Salt / ester / formulation words that RxNorm precise-ingredient names append to the base ingredient
# ("oxycodone hydrochloride", "warfarin sodium", "dabigatran etexilate", "morphine sulfate liposomal").
_SALT_WORDS = frozenset(
    [
        "acetate",
        "anhydrous",
        "aspartate",
        "besylate",
        "bitartrate",
        "bromide",
        "calcium",
        "citrate",
        "dihydrate",
        "dimesylate",
        "dipotassium",
        "etexilate",
        "fumarate",
        "furoate",
        "hcl",
        "hydrobromide",
        "hydrochloride",
        "liposomal",
        "magnesium",
        "maleate",
        "medoxomil",
        "mesylate",
        "monohydrate",
        "napsylate",
        "phosphate",
        "polistirex",
        "potassium",
        "propionate",
        "resin",
        "saccharate",
        "sodium",
        "succinate",
        "sulfate",
        "sulphate",
        "tartrate",
        "terephthalate",
    ]
)
# Never reduce "calcium acetate", "zinc sulfate", "ferrous sulfate" ... to the bare cation.
_CATION_WORDS = frozenset(
    [
        "aluminum",
        "calcium",
        "dipotassium",
        "ferric",
        "ferrous",
        "iron",
        "lithium",
        "magnesium",
        "potassium",
        "sodium",
        "tricalcium",
        "zinc",
    ]
)
# Leading formulation words in some RxNorm names ("abuse-deterrent 12 hr oxycodone hydrochloride",
# "matrix delivery 24 hr tramadol hydrochloride", "3-bead 24 hr amphetamine aspartate").
_PREFIX_TOKEN = re.compile(r"^(?:abuse-deterrent|matrix|delivery|\d+-bead|\d+|hr)$")
# INN / DrugBank / misspelt names used by the interaction lists -> the RxNorm (USAN) name.
_SYNONYMS = {
    "acetylsalicylic acid": "aspirin",
    "esmoprazole": "esomeprazole",
    "glibenclamide": "glyburide",
    "lisdexamefetamine": "lisdexamfetamine",
    "meclofenamic acid": "meclofenamate",
    "mefenamate": "mefenamic acid",
    "methylergometrine": "methylergonovine",
    "paracetamol": "acetaminophen",
    "pethidine": "meperidine",
    "rifampicin": "rifampin",
    "voreconazole": "voriconazole",
}


def ingredient_key(name: str | None) -> str:
    """Normalise an ingredient name for matching across sources.

    Lower-cases, collapses whitespace, drops RxNorm formulation prefixes ("abuse-deterrent 12 hr"),
    drops trailing salt/ester words ("oxycodone hydrochloride" -> "oxycodone", "warfarin sodium" ->
    "warfarin") unless only a cation would remain ("calcium acetate" stays), then maps a few INN/DrugBank
    names to RxNorm names ("pethidine" -> "meperidine", "acetylsalicylic acid" -> "aspirin").
    Use it on both sides: ``ingredient_key(product_ingredient) == ingredient_key(ddi_drug_name)``.
    """
    text = " ".join((name or "").replace("\u00a0", " ").replace("\u2019", "'").lower().split())
    words = text.split(" ") if text else []
    while len(words) > 1 and _PREFIX_TOKEN.match(words[0]):
        words.pop(0)
    while len(words) > 1 and words[-1] in _SALT_WORDS:
        if len(words) == 2 and words[0] in _CATION_WORDS:
            break
        words.pop()
    key = " ".join(words)
    return _SYNONYMS.get(key, key)


# ----------------------------------------------------------------------------------------- RxNorm


@lru_cache(maxsize=1)
def _rxnorm_rows() -> tuple[dict[str, str], ...]:
    return tuple(_read_csv(RXNORM_MEDICATIONS_CSV))


@lru_cache(maxsize=1)
def _rxnorm_concepts_by_name() -> dict[str, tuple[str, str]]:
    """Exact (case-insensitive) name -> (rxcui, name) for ingredient/brand-level rows of the list."""
    index: dict[str, tuple[str, str]] = {}
    for row in _rxnorm_rows():
        if row["tty_inferred"] == RXNORM_CONCEPT_TTY and not row["ingredients"]:
            index.setdefault(" ".join(row["name"].lower().split()), (row["rxcui"], row["name"]))
    return index


def lookup_ingredient_rxcui(name: str | None) -> str | None:
    """RxCUI of the ingredient-level row whose name equals ``name`` (case-insensitive), else None.

    Only the shipped list is consulted, and only exact names: "Warfarin Sodium" resolves (114194),
    "warfarin" does not (its IN concept is not in the list). No guessing, no fuzzy matching.
    """
    hit = _rxnorm_concepts_by_name().get(" ".join((name or "").lower().split()))
    return hit[0] if hit else None


def iter_rxnorm_products() -> Iterator[dict[str, Any]]:
    """Yield every row of ``data/rxnorm/rxnorm_medications.csv.gz`` (6,288 RxCUIs) as a dict.

    Keys: ``rxcui``; ``name``; ``tty`` (the list's *heuristic* term type, not RxNorm's TTY: SCD, SBD,
    SCDC, SBDC, SCDF, SBDF, GPCK, BPCK, "IN/MIN/BN/other" for ~1,680 ingredient/brand-level rows,
    "unparsed"); ``strength`` and ``dose_form`` (None when absent); ``brand``; ``quantity_factor``
    (e.g. "12 HR"); ``ingredients``: ``[{"rxcui", "name", "strength"}]`` in RxNorm order, where
    ``rxcui`` is filled only when the list holds an ingredient-level row with exactly that name
    (see :func:`lookup_ingredient_rxcui`) and ``strength`` is the matching part of ``strength``;
    ``sources``, ``valuesets`` (e.g. ``opioid-cds:BENZODIAZEPINE_MEDICATIONS``), ``alt_names``: lists.
    """
    for row in _rxnorm_rows():
        names = _split(row["ingredients"], " / ")
        strengths = _split(row["strength"], " / ")
        if len(strengths) != len(names):
            strengths = [None] * len(names)  # type: ignore[list-item]
        yield {
            "rxcui": row["rxcui"],
            "name": row["name"],
            "tty": row["tty_inferred"],
            "strength": _blank_to_none(row["strength"]),
            "dose_form": _blank_to_none(row["dose_form"]),
            "brand": _blank_to_none(row["brand"]),
            "quantity_factor": _blank_to_none(row["quantity_factor"]),
            "ingredients": [
                {"rxcui": lookup_ingredient_rxcui(n), "name": n, "strength": s}
                for n, s in zip(names, strengths, strict=True)
            ],
            "sources": _split(row["sources"], ";"),
            "valuesets": _split(row["valuesets"], ";"),
            "alt_names": _split(row["alt_names"], ";"),
        }


# ------------------------------------------------------------------------------------ value sets


@cache
def load_valueset_expansion(path: Path | str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(url, title, ((rxcui, display), ...)) of a FHIR ValueSet JSON with an ``expansion``."""
    with open_text(path) as fh:
        vs = json.load(fh)
    codes = tuple(
        (c["code"], c.get("display", ""))
        for c in vs.get("expansion", {}).get("contains", [])
        if c.get("system") == RXNORM_SYSTEM
    )
    return vs.get("url", ""), vs.get("title") or vs.get("name", ""), codes


def _opioid_cds_valueset_paths() -> list[Path]:
    return sorted(p for p in OPIOID_CDS_VALUESET_DIR.iterdir() if p.name.endswith((".json", ".json.gz")))


def _product_ingredient_keys(rxcui: str) -> list[str]:
    row = _rxnorm_row_by_rxcui().get(rxcui)
    names = _split(row["ingredients"], " / ") if row else []
    return [ingredient_key(n) for n in names]


@lru_cache(maxsize=1)
def _rxnorm_row_by_rxcui() -> dict[str, dict[str, str]]:
    return {row["rxcui"]: row for row in _rxnorm_rows()}


def valueset_ingredients(path: Path | str) -> list[str]:
    """Ingredient keys (see :func:`ingredient_key`) that define a product-level RxNorm value set.

    The CDC value sets list clinical products (SCD/SBD/packs), so the class's ingredients are derived:
    (1) every ingredient of a single-ingredient product in the value set; then (2) for a multi-ingredient
    product none of whose ingredients came from (1), each of its ingredients that occurs *only* in
    products of this value set within the shipped RxNorm list (catches benzhydrocodone, opium,
    dipipanone, which exist only in combinations). Co-ingredients such as acetaminophen, aspirin,
    ibuprofen, caffeine, naloxone or amitriptyline are therefore not class members. Packs whose
    ingredients are not parsed in the list are ignored (their ingredient occurs in other products).
    """
    _, _, codes = load_valueset_expansion(path)
    members = {code for code, _ in codes}
    products = [_product_ingredient_keys(code) for code, _ in codes]
    found: list[str] = []
    for keys in products:
        if len(keys) == 1 and keys[0] not in found:
            found.append(keys[0])
    exclusive: dict[str, bool] = {}
    for row in _rxnorm_rows():
        inside = row["rxcui"] in members
        for key in {ingredient_key(n) for n in _split(row["ingredients"], " / ")}:
            exclusive[key] = exclusive.get(key, True) and inside
    for keys in products:
        if len(keys) > 1 and not any(k in found for k in keys):
            found.extend(k for k in keys if exclusive.get(k) and k not in found)
    return found


# ----------------------------------------------------------------------------- drug interactions


def _drug(name: str, drugbank_id: str | None = None, rxcui: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "rxcui": rxcui if rxcui is not None else lookup_ingredient_rxcui(name),
        "drugbank_id": drugbank_id or None,
        "key": ingredient_key(name),
    }


def _onc_records(source: str, rules_csv: Path, pairs_csv: Path) -> Iterator[dict[str, Any]]:
    severity = "high" if source == SOURCE_ONC_HIGH_PRIORITY else "low"
    label = (
        "ONC high-priority DDI list (Phansalkar et al., JAMIA 2012)"
        if source == SOURCE_ONC_HIGH_PRIORITY
        else "ONC non-interruptive DDI list (Phansalkar et al., JAMIA 2013; may be shown without interrupting)"
    )
    rules: dict[int, dict[str, list[dict[str, str]]]] = {}
    for row in _read_csv(rules_csv):
        rules.setdefault(int(row["rule_id"]), {}).setdefault(row["role"], []).append(row)

    records: dict[frozenset[str], dict[str, Any]] = {}
    by_drugbank: dict[frozenset[str], frozenset[str]] = {}

    def add(rule_id: int | None, a: dict[str, str], b: dict[str, str], listed: bool) -> dict[str, Any] | None:
        key = frozenset((ingredient_key(a["drug"]), ingredient_key(b["drug"])))
        if len(key) < 2:
            return None
        rec = records.get(key)
        if rec is None:
            rec = records[key] = {
                "source": source,
                "severity": severity,
                "rule_id": str(rule_id) if rule_id is not None else None,
                "rule_ids": [],
                "class_a": a.get("class") or None,
                "class_b": b.get("class") or None,
                "class_a_valueset": None,
                "class_b_valueset": None,
                "drug_a": _drug(a["drug"], a.get("drugbank_id")),
                "drug_b": _drug(b["drug"], b.get("drugbank_id")),
                "description": (
                    f"{label}, rule {rule_id}: {a.get('class') or a['drug']} + {b.get('class') or b['drug']}"
                    if rule_id is not None
                    else f"{label}: {a['drug']} + {b['drug']} (pair not matched to a class rule)"
                ),
                "listed_pair": listed,
            }
        if rule_id is not None and str(rule_id) not in rec["rule_ids"]:
            rec["rule_ids"].append(str(rule_id))
        rec["listed_pair"] = rec["listed_pair"] or listed
        if a.get("drugbank_id") and b.get("drugbank_id"):
            by_drugbank.setdefault(frozenset((a["drugbank_id"], b["drugbank_id"])), key)
        return rec

    for rule_id in sorted(rules):
        roles = rules[rule_id]
        if "member" in roles:  # symmetric class rule (QT-prolonging agent + QT-prolonging agent)
            combos: Iterable[tuple[dict[str, str], dict[str, str]]] = itertools.combinations(
                sorted(roles["member"], key=lambda r: r["drug"].lower()), 2
            )
        else:
            combos = itertools.product(roles.get("object", []), roles.get("precipitant", []))
        for a, b in combos:
            add(rule_id, a, b, listed=False)

    for row in _read_csv(pairs_csv):
        ids = frozenset((row["drug1_drugbank_id"], row["drug2_drugbank_id"]))
        key = by_drugbank.get(ids)
        if key is not None:
            records[key]["listed_pair"] = True
            continue
        a = {"drug": row["drug1_name"], "drugbank_id": row["drug1_drugbank_id"]}
        b = {"drug": row["drug2_name"], "drugbank_id": row["drug2_drugbank_id"]}
        add(None, a, b, listed=True)

    yield from records.values()


def _pddi_warfarin_nsaid_records() -> Iterator[dict[str, Any]]:
    ns = {"f": "http://hl7.org/fhir"}
    root = ET.parse(resolve_data_path(PDDI_NSAIDS_VALUESET_XML)).getroot()  # noqa: S314 - shipped file
    nsaids_url = "http://hl7.org/fhir/uv/pddi/ValueSet/valueset-NSAIDS"
    warfarin_url = "http://hl7.org/fhir/uv/pddi/ValueSet/valueset-warfarin"
    warfarin = _drug("warfarin")
    for node in root.findall("f:compose/f:include/f:valueSet", ns):
        url = node.get("value", "")
        ingredient = url.rsplit("/valueset-", 1)[-1]
        tag = f"pddi-cds:Valueset_{ingredient}"
        name, rxcui = ingredient, None
        for row in _rxnorm_rows():
            if (
                row["tty_inferred"] == RXNORM_CONCEPT_TTY
                and row["name"].lower() == ingredient.lower()
                and tag in row["valuesets"].split(";")
            ):
                name, rxcui = row["name"], row["rxcui"]
                break
        yield {
            "source": SOURCE_PDDI_CDS,
            "severity": "high",
            "rule_id": "warfarin-nsaids",
            "rule_ids": ["warfarin-nsaids"],
            "class_a": "Warfarins",
            "class_b": "NSAIDs",
            "class_a_valueset": warfarin_url,
            "class_b_valueset": nsaids_url,
            "drug_a": dict(warfarin),
            "drug_b": _drug(name, rxcui=rxcui),
            "description": (
                "HL7 PDDI-CDS warfarin + NSAIDs: increased risk of bleeding. The IG modifies the alert by age >= 65, "
                "history of upper-GI bleed, concurrent PPI/misoprostol (protective), corticosteroids or "
                "aldosterone antagonists (aggravating); topical diclofenac is lower risk."
            ),
            "listed_pair": None,
        }


def _cdc_opioid_benzodiazepine_records() -> Iterator[dict[str, Any]]:
    opioid_url, opioid_title, _ = load_valueset_expansion(OPIOID_ANALGESICS_VALUESET_JSON)
    benzo_url, benzo_title, _ = load_valueset_expansion(BENZODIAZEPINE_VALUESET_JSON)
    for opioid in valueset_ingredients(OPIOID_ANALGESICS_VALUESET_JSON):
        for benzo in valueset_ingredients(BENZODIAZEPINE_VALUESET_JSON):
            yield {
                "source": SOURCE_CDC_OPIOID_CDS,
                "severity": "high",
                "rule_id": "REC11",
                "rule_ids": ["REC11"],
                "class_a": opioid_title,
                "class_b": benzo_title,
                "class_a_valueset": opioid_url,
                "class_b_valueset": benzo_url,
                "drug_a": _drug(opioid),
                "drug_b": _drug(benzo),
                "description": (
                    "CDC opioid prescribing guideline, recommendation 11 (opioid-cds OpioidCDSREC11): avoid "
                    "prescribing opioid pain medication and benzodiazepines concurrently whenever possible."
                ),
                "listed_pair": None,
            }


def iter_ddi_pairs(sources: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Yield ingredient-level drug-drug interaction pairs, one dict per unordered pair and source.

    Record keys: ``source``; ``severity`` ("high" | "low"); ``rule_id`` (first matching rule) and
    ``rule_ids``; ``class_a``/``class_b`` (class names as the source words them, None where the rule
    names a single drug); ``class_a_valueset``/``class_b_valueset`` (canonical ValueSet URL for the two
    value-set based rules, else None); ``drug_a``/``drug_b``: ``{"name", "rxcui", "drugbank_id", "key"}``
    where ``key`` is :func:`ingredient_key` of the name - match product ingredients on it - and ``rxcui``
    is set only when the shipped RxNorm list has an ingredient row with exactly that name; ``description``;
    ``listed_pair`` (ONC only: the authors' pair file lists this pair; False = only from the class table).
    ``drug_a`` is the object drug and ``drug_b`` the precipitant where the source says so.

    Sources and how classes expand to ingredients:

    * ``onc-high-priority`` (severity high) and ``onc-non-interruptive`` (severity low): the rule tables
      ``*_rules.csv`` (derived from the published spreadsheets) name classes *and* their member drugs;
      each rule expands to every object-member x precipitant-member pair. Rule 21 of the high-priority
      list ("QT prolonging agent + QT prolonging agent") lists no drugs in the spreadsheet; its 40 members
      are taken from the authors' pair file and expand to all 780 member pairs. Where a side names only
      a class (non-interruptive: "Acetaminophen", "Vitamin E", "Niacin", "Clopidogrel", "Omeprazole"),
      the class name is the drug. The authors' pair files (DrugBank-mapped) are then merged in by
      DrugBank id; every listed pair matches a rule. Pairs are deduplicated on the ingredient keys.
      No RxCUIs are in these lists - match on ``key`` (drug names are ingredient names).
    * ``hl7-pddi-cds`` (severity high): warfarin + each NSAID ingredient of the IG's composite
      ``valueset-NSAIDS-example`` (21 per-ingredient value sets: aspirin ... tolmetin); the ingredient
      RxCUI comes from the ingredient row tagged with that value set in the RxNorm list.
      Warfarin's own IN RxCUI is not in the shipped data (rxcui None).
    * ``cdc-opioid-cds`` (severity high): every ingredient of "Opioid analgesics with ambulatory misuse
      potential" x every ingredient of "Benzodiazepine medications"; ingredients are derived from the
      product-level value sets as described in :func:`valueset_ingredients`.

    The ONC lists carry no clinical text; ``description`` names the list, rule and classes only.
    """
    wanted = set(sources) if sources is not None else set(DDI_SOURCES)
    unknown = wanted - set(DDI_SOURCES)
    if unknown:
        raise ValueError(f"unknown DDI source(s): {sorted(unknown)}")
    if SOURCE_ONC_HIGH_PRIORITY in wanted:
        yield from _onc_records(
            SOURCE_ONC_HIGH_PRIORITY, ONC_HIGH_PRIORITY_RULES_CSV, ONC_HIGH_PRIORITY_PAIRS_CSV
        )
    if SOURCE_ONC_NON_INTERRUPTIVE in wanted:
        yield from _onc_records(
            SOURCE_ONC_NON_INTERRUPTIVE, ONC_NON_INTERRUPTIVE_RULES_CSV, ONC_NON_INTERRUPTIVE_PAIRS_CSV
        )
    if SOURCE_PDDI_CDS in wanted:
        yield from _pddi_warfarin_nsaid_records()
    if SOURCE_CDC_OPIOID_CDS in wanted:
        yield from _cdc_opioid_benzodiazepine_records()


# ------------------------------------------------------------------------------ controlled drugs

# Federal (DEA) schedule per ingredient key, written by hand from 21 CFR 1308.12-1308.15. This is NOT
# in the shipped data; it is applied only to products of the CDC opioid-cds value sets. Ingredients in
# Schedule I (heroin, dextromoramide, dipipanone, pholcodine) or not federally controlled (naloxone,
# naltrexone, meptazinol, topiramate, ...) have no entry.
_SCHEDULE_BY_INGREDIENT: dict[str, str] = {
    # opioids
    "alfentanil": "II",
    "benzhydrocodone": "II",
    "codeine": "II",  # combinations: see _schedule_for_product
    "dihydrocodeine": "II",  # combinations: see _schedule_for_product
    "fentanyl": "II",
    "hydrocodone": "II",  # all hydrocodone combination products are CII since 6 Oct 2014
    "hydromorphone": "II",
    "levomethadyl": "II",
    "levorphanol": "II",
    "meperidine": "II",
    "methadone": "II",
    "morphine": "II",
    "opium": "II",
    "opium tincture": "II",
    "oxycodone": "II",
    "oxymorphone": "II",
    "remifentanil": "II",
    "sufentanil": "II",
    "tapentadol": "II",
    "buprenorphine": "III",
    "butorphanol": "IV",
    "pentazocine": "IV",
    "propoxyphene": "IV",
    "tramadol": "IV",
    # benzodiazepines (all CIV)
    "alprazolam": "IV",
    "bromazepam": "IV",
    "chlordiazepoxide": "IV",
    "clobazam": "IV",
    "clonazepam": "IV",
    "clorazepate": "IV",
    "diazepam": "IV",
    "estazolam": "IV",
    "flunitrazepam": "IV",
    "flurazepam": "IV",
    "halazepam": "IV",
    "lorazepam": "IV",
    "lormetazepam": "IV",
    "midazolam": "IV",
    "nitrazepam": "IV",
    "oxazepam": "IV",
    "prazepam": "IV",
    "quazepam": "IV",
    "remimazolam": "IV",
    "temazepam": "IV",
    "triazolam": "IV",
    # stimulants / anorectics (amphetamine-class and CNS-depressant value sets)
    "amphetamine": "II",
    "dextroamphetamine": "II",
    "lisdexamfetamine": "II",
    "methamphetamine": "II",
    "benzphetamine": "III",
    "phendimetrazine": "III",
    "diethylpropion": "IV",
    "phentermine": "IV",
    # other CNS depressants
    "carisoprodol": "IV",
    "zaleplon": "IV",
    "zolpidem": "IV",
    "calcium oxybate": "III",
    "magnesium oxybate": "III",
    "potassium oxybate": "III",
    "sodium oxybate": "III",
}
# Barbiturates: only single-ingredient products are scheduled here, because many barbiturate
# combinations (butalbital/acetaminophen/caffeine, phenobarbital/belladonna) are DEA-exempted products.
_SCHEDULE_SINGLE_ENTITY_ONLY: dict[str, str] = {
    "amobarbital": "II",
    "pentobarbital": "II",
    "secobarbital": "II",
    "butabarbital": "III",
    "thiopental": "III",
    "mephobarbital": "IV",
    "phenobarbital": "IV",
}
_ROMAN = {"II": 2, "III": 3, "IV": 4, "V": 5}
_LIQUID_FORM = re.compile(r"solution|suspension|syrup|elixir|liquid", re.IGNORECASE)


def _schedule_for_product(keys: list[str], dose_form: str) -> str | None:
    scheduled: list[str] = []
    for key in keys:
        schedule = _SCHEDULE_BY_INGREDIENT.get(key)
        if schedule is None and len(keys) == 1:
            schedule = _SCHEDULE_SINGLE_ENTITY_ONLY.get(key)
        if schedule is None:
            continue
        if key in ("codeine", "dihydrocodeine") and len(keys) > 1:
            # combination with other active ingredients: solid doses CIII, liquids CV (exempt-narcotic
            # strengths); the mg-per-unit / mg-per-100 mL limits of 21 CFR 1308.13(e)/1308.15(c) are not checked
            schedule = "V" if key == "codeine" and _LIQUID_FORM.search(dose_form or "") else "III"
        scheduled.append(schedule)
    if not scheduled:
        return None
    return min(scheduled, key=_ROMAN.__getitem__)


@lru_cache(maxsize=1)
def _controlled_substance_schedules() -> dict[str, str]:
    known = sorted(
        set(_SCHEDULE_BY_INGREDIENT) | set(_SCHEDULE_SINGLE_ENTITY_ONLY), key=lambda k: (-len(k), k)
    )
    word_pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in known) + r")\b")
    by_rxcui = _rxnorm_row_by_rxcui()
    result: dict[str, str] = {}
    for path in _opioid_cds_valueset_paths():
        _, _, codes = load_valueset_expansion(path)
        for rxcui, display in codes:
            if rxcui in result:
                continue
            row = by_rxcui.get(rxcui)
            names = _split(row["ingredients"], " / ") if row else []
            dose_form = (row["dose_form"] if row else "") or ""
            if names:
                keys = [ingredient_key(n) for n in names]
            else:  # packs ("{2 (fentanyl 0.6 MG/ACTUAT Mucosal Spray) } Pack"): find known names in the text
                text = (row["name"] if row else display).lower()
                keys = list(dict.fromkeys(word_pattern.findall(text)))
                dose_form = dose_form or text
            schedule = _schedule_for_product(keys, dose_form)
            if schedule:
                result[rxcui] = schedule
    return result


def controlled_substance_schedules() -> dict[str, str]:
    """Return ``{rxcui: "II" | "III" | "IV" | "V"}`` for products in the shipped CDC opioid-cds value sets.

    The value sets say which products are opioids, benzodiazepines, stimulants, barbiturates, CNS
    depressants; they do **not** carry DEA schedules. The schedule is assigned per ingredient from a
    hand-written table of federal schedules (21 CFR 1308.12-1308.15, kept in this module), and a
    product gets the most restrictive schedule of its ingredients, with these rules:

    * opioids CII (oxycodone, hydrocodone incl. combinations, morphine, fentanyl, methadone, tapentadol...),
      except buprenorphine (incl. with naloxone) CIII and tramadol, pentazocine, butorphanol,
      propoxyphene CIV;
    * codeine alone CII; codeine with other active ingredients CIII as tablets/capsules and CV as
      liquids (cough syrups, acetaminophen/codeine solution); dihydrocodeine combinations CIII;
      the per-dose amount limits that decide III vs V are not checked;
    * all benzodiazepines CIV; amphetamine, dextroamphetamine, lisdexamfetamine, methamphetamine CII;
      benzphetamine, phendimetrazine CIII; phentermine, diethylpropion, zolpidem, zaleplon, carisoprodol
      CIV; oxybates CIII;
    * barbiturates only as single-ingredient products (exempted combinations exist);
    * Schedule I ingredients (heroin, pholcodine, ...) and uncontrolled ones get no entry.
    State schedules may be stricter. Review before using for EPCS decisions.
    """
    return dict(_controlled_substance_schedules())


# --------------------------------------------------------------------------------------- ICD-10-CM


class Icd10Code(NamedTuple):
    code: str  # dotted, e.g. "E11.9"
    description: str
    billable: bool  # True = valid for HIPAA claims (leaf code); False = category/header


def _dotted(code: str) -> str:
    code = code.strip().upper().replace(".", "")
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def iter_icd10cm() -> Iterator[Icd10Code]:
    """Yield ICD-10-CM April-2026 codes (98,147; 74,714 billable) as ``(code, description, billable)``.

    ``code`` has the dot after the third character ("A00.0"; three-character categories have none).
    """
    with open_text(ICD10CM_CODES_CSV) as fh:
        for row in csv.DictReader(fh):
            yield Icd10Code(_dotted(row["code"]), row["description"], row["billable"].strip() == "1")


# ------------------------------------------------------------------------------------------- LOINC


def _units(value: str | None) -> list[str]:
    return [u for u in _split(value, ",") if u != "-"]


def iter_loinc_vitals() -> Iterator[dict[str, Any]]:
    """Yield one dict per LOINC code of ``loinc_vital_signs.csv`` (rows for the same code are merged).

    Keys: ``code``; ``name`` (display from the FHIR R4 vital-signs table, else from US Core);
    ``unit`` (preferred UCUM unit: the one used in the US Core example, else the first the FHIR table
    allows; None for panels); ``units`` (all UCUM units seen); ``profile`` (FHIR R4 profile name or
    None); ``us_core_profiles``; ``comment``; ``sources``. LOINC content: see ``LOINC_NOTICE.txt``.
    """
    merged: dict[str, dict[str, Any]] = {}
    for row in _read_csv(LOINC_VITAL_SIGNS_CSV):
        code = row["loinc_code"].strip()
        fhir_table = row["source"].startswith("FHIR R4")
        rec = merged.setdefault(
            code,
            {
                "code": code,
                "name": None,
                "unit": None,
                "units": [],
                "profile": None,
                "us_core_profiles": [],
                "comment": None,
                "sources": [],
                "_example_unit": None,
            },
        )
        units = _units(row["ucum_units"])
        if fhir_table:
            rec["name"] = row["loinc_name_or_display"].strip()
            rec["profile"] = row["profile_or_example"].strip()
            rec["comment"] = _blank_to_none(row["comment"])
        else:
            rec["name"] = rec["name"] or row["loinc_name_or_display"].strip()
            rec["us_core_profiles"].append(row["profile_or_example"].strip())
            rec["_example_unit"] = rec["_example_unit"] or (units[0] if units else None)
        rec["units"].extend(u for u in units if u not in rec["units"])
        if row["source"] not in rec["sources"]:
            rec["sources"].append(row["source"])
    for rec in merged.values():
        example_unit = rec.pop("_example_unit")
        rec["unit"] = example_unit or (rec["units"][0] if rec["units"] else None)
        yield rec


# -------------------------------------------------------------------------------------------- FHIR


def synthea_bundle_paths() -> list[Path]:
    """Paths of the shipped Synthea FHIR R4 transaction bundles (sorted by file name)."""
    return sorted(p for p in SYNTHEA_DIR.iterdir() if p.name.endswith((".json", ".json.gz")))
