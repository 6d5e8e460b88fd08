"""Tests for core.refdata: the parsers of the reference data shipped in data/ (no Django, no DB)."""

import gzip
import json
from collections import Counter
from functools import lru_cache

import pytest

from core import refdata


@lru_cache(maxsize=1)
def rxnorm_products():
    return tuple(refdata.iter_rxnorm_products())


@lru_cache(maxsize=1)
def ddi_pairs():
    return tuple(refdata.iter_ddi_pairs())


def find_pairs(key_a, key_b, source=None):
    wanted = {key_a, key_b}
    return [
        p
        for p in ddi_pairs()
        if {p["drug_a"]["key"], p["drug_b"]["key"]} == wanted and (source is None or p["source"] == source)
    ]


# ------------------------------------------------------------------------------------- data files


def test_data_dir_is_inside_the_repository():
    assert refdata.DATA_DIR.name == "data"
    assert (refdata.DATA_DIR.parent / "core" / "refdata.py").is_file()
    assert "/work/shared" not in str(refdata.DATA_DIR)
    assert (refdata.DATA_DIR / "SOURCES.md").is_file()
    assert refdata.LOINC_NOTICE_TXT.is_file()


def test_shipped_data_stays_small():
    total = sum(p.stat().st_size for p in refdata.DATA_DIR.rglob("*") if p.is_file())
    assert total < 15 * 1024 * 1024


def test_open_text_handles_gzip_transparently(tmp_path):
    plain = tmp_path / "x.csv"
    with gzip.open(tmp_path / "x.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("a,b\n1,2\n")
    with refdata.open_text(plain) as fh:  # only the .gz twin exists
        assert fh.read() == "a,b\n1,2\n"
    plain.write_text("\ufeffa,b\n3,4\n", encoding="utf-8")
    with refdata.open_text(tmp_path / "x.csv") as fh:  # plain file wins; BOM dropped
        assert fh.read() == "a,b\n3,4\n"
    with pytest.raises(FileNotFoundError):
        refdata.open_text(tmp_path / "missing.csv")


def test_ingredient_key():
    assert refdata.ingredient_key("Oxycodone Hydrochloride") == "oxycodone"
    assert refdata.ingredient_key("abuse-deterrent 12 hr oxycodone hydrochloride") == "oxycodone"
    assert refdata.ingredient_key("Warfarin Sodium") == "warfarin"
    assert refdata.ingredient_key("clorazepate dipotassium") == "clorazepate"
    assert refdata.ingredient_key("Calcium Acetate") == "calcium acetate"
    assert refdata.ingredient_key("Ferrous sulfate") == "ferrous sulfate"
    assert refdata.ingredient_key("Pethidine") == "meperidine"
    assert refdata.ingredient_key("Acetylsalicylic acid") == "aspirin"
    assert refdata.ingredient_key("moexipril\u00a0") == "moexipril"


# ----------------------------------------------------------------------------------------- RxNorm


def test_rxnorm_products_count_and_shape():
    products = rxnorm_products()
    assert len(products) > 5000
    assert len({p["rxcui"] for p in products}) == len(products)
    ttys = Counter(p["tty"] for p in products)
    assert ttys["SCD"] > 1000
    assert ttys["SBD"] > 500
    for p in products:
        assert p["rxcui"].isdigit()
        assert p["name"]
        assert isinstance(p["ingredients"], list)


def test_rxnorm_product_fields():
    by_rxcui = {p["rxcui"]: p for p in rxnorm_products()}
    combo = next(
        p
        for p in rxnorm_products()
        if [i["name"].lower() for i in p["ingredients"]] == ["acetaminophen", "oxycodone hydrochloride"]
        and p["tty"] == "SCD"
    )
    assert combo["strength"] and " / " in combo["strength"]
    assert combo["dose_form"]
    assert all(i["strength"] for i in combo["ingredients"])
    assert "opioid-cds:OXYCODONE_MEDICATIONS" in combo["valuesets"]
    # ingredient-level rows are resolved to ingredient RxCUIs where the list holds them
    assert by_rxcui["5640"]["name"].lower() == "ibuprofen"
    warfarin_tablet = next(
        p for p in rxnorm_products() if p["name"].lower().startswith("warfarin sodium 5 mg")
    )
    assert warfarin_tablet["ingredients"][0]["rxcui"] == "114194"
    assert refdata.lookup_ingredient_rxcui("IBUPROFEN") == "5640"
    assert refdata.lookup_ingredient_rxcui("no such drug") is None


# ------------------------------------------------------------------------------ drug interactions


def test_ddi_pairs_shape_and_sources():
    pairs = ddi_pairs()
    assert {p["source"] for p in pairs} == set(refdata.DDI_SOURCES)
    for p in pairs:
        assert p["severity"] in ("high", "low")
        assert p["description"]
        for side in ("drug_a", "drug_b"):
            assert p[side]["name"]
            assert p[side]["key"] == refdata.ingredient_key(p[side]["name"])
            assert p[side]["rxcui"] is None or p[side]["rxcui"].isdigit()
        assert p["drug_a"]["key"] != p["drug_b"]["key"]
    severities = {p["source"]: p["severity"] for p in pairs}
    assert severities == {
        "onc-high-priority": "high",
        "onc-non-interruptive": "low",
        "hl7-pddi-cds": "high",
        "cdc-opioid-cds": "high",
    }
    # one record per unordered ingredient pair and source
    keys = Counter((p["source"], frozenset((p["drug_a"]["key"], p["drug_b"]["key"]))) for p in pairs)
    assert max(keys.values()) == 1


def test_ddi_counts_are_plausible():
    by_source = Counter(p["source"] for p in ddi_pairs())
    assert sum(1 for p in ddi_pairs() if p["severity"] == "high") >= 20
    # high-priority pair file: 1,930 rows = 1,150 unordered pairs; + 30 pairs only in the class table
    assert 1150 <= by_source["onc-high-priority"] < 1300
    assert by_source["onc-non-interruptive"] >= 2101
    assert by_source["hl7-pddi-cds"] == 21
    assert by_source["cdc-opioid-cds"] > 200


def test_onc_high_priority_pair_file_is_fully_covered():
    listed = [p for p in ddi_pairs() if p["source"] == "onc-high-priority" and p["listed_pair"]]
    assert len(listed) == 1150
    assert all(p["rule_id"] is not None for p in listed)
    with refdata.open_text(refdata.ONC_HIGH_PRIORITY_PAIRS_CSV) as fh:
        rows = fh.read().splitlines()[1:]
    assert len(rows) == 1930


def test_onc_classes_expand_to_members():
    (ssri_maoi,) = find_pairs("sertraline", "phenelzine", "onc-high-priority")
    assert ssri_maoi["class_a"] == "SSRIs"
    assert ssri_maoi["class_b"] == "MAOI"
    assert ssri_maoi["severity"] == "high"
    (qt,) = find_pairs("amiodarone", "haloperidol", "onc-high-priority")
    assert qt["rule_id"] == "21"
    assert qt["class_a"] == qt["class_b"] == "QT prolonging agents"
    (ppi,) = find_pairs("atazanavir", "omeprazole", "onc-high-priority")
    assert ppi["drug_a"]["name"] == "Atazanavir"
    assert ppi["drug_a"]["drugbank_id"] == "DB01072"
    # DrugBank/INN names in the pair file are matched to the table's US names
    (meperidine,) = find_pairs("meperidine", "tranylcypromine", "onc-high-priority")
    assert meperidine["listed_pair"] is True
    # a rule the authors' pair file lost is still expanded from the table
    (febuxostat,) = find_pairs("febuxostat", "azathioprine", "onc-high-priority")
    assert febuxostat["listed_pair"] is False
    (low,) = find_pairs("warfarin", "acetaminophen", "onc-non-interruptive")
    assert low["severity"] == "low"
    assert low["class_a"] == "Anticoagulants"


def test_warfarin_nsaid_pair_is_high():
    pairs = find_pairs("warfarin", "ibuprofen")
    assert pairs
    assert all(p["severity"] == "high" for p in pairs)
    (pddi,) = [p for p in pairs if p["source"] == "hl7-pddi-cds"]
    assert pddi["drug_b"]["rxcui"] == "5640"
    assert pddi["class_b"] == "NSAIDs"
    nsaids = {p["drug_b"]["key"] for p in ddi_pairs() if p["source"] == "hl7-pddi-cds"}
    assert {"naproxen", "diclofenac", "celecoxib", "ketorolac", "meloxicam", "aspirin"} <= nsaids


def test_benzodiazepine_opioid_pairs_present():
    for opioid, benzo in [
        ("oxycodone", "alprazolam"),
        ("hydrocodone", "lorazepam"),
        ("tramadol", "diazepam"),
    ]:
        (pair,) = find_pairs(opioid, benzo, "cdc-opioid-cds")
        assert pair["severity"] == "high"
        assert pair["drug_a"]["key"] == opioid
        assert pair["class_b_valueset"].endswith("/benzodiazepine-medications")
    opioids = set(refdata.valueset_ingredients(refdata.OPIOID_ANALGESICS_VALUESET_JSON))
    assert {"oxycodone", "morphine", "fentanyl", "codeine", "buprenorphine", "benzhydrocodone"} <= opioids
    assert not opioids & {"acetaminophen", "aspirin", "ibuprofen", "caffeine", "naloxone", "naltrexone"}
    benzos = set(refdata.valueset_ingredients(refdata.BENZODIAZEPINE_VALUESET_JSON))
    assert {"alprazolam", "lorazepam", "diazepam", "clonazepam", "chlordiazepoxide"} <= benzos
    assert not benzos & {"amitriptyline", "clidinium"}


def test_unknown_ddi_source_rejected():
    with pytest.raises(ValueError):
        list(refdata.iter_ddi_pairs(["drugbank"]))
    only = list(refdata.iter_ddi_pairs(["hl7-pddi-cds"]))
    assert {p["source"] for p in only} == {"hl7-pddi-cds"}


# ------------------------------------------------------------------------------ controlled drugs


def test_controlled_substance_schedules():
    schedules = refdata.controlled_substance_schedules()
    assert set(schedules.values()) <= {"II", "III", "IV", "V"}
    assert len(schedules) > 500
    products = rxnorm_products()

    def schedules_for(ingredient):
        return {
            schedules.get(p["rxcui"])
            for p in products
            if [refdata.ingredient_key(i["name"]) for i in p["ingredients"]] == [ingredient]
            and p["rxcui"] in schedules
        }

    assert schedules_for("oxycodone") == {"II"}
    assert schedules_for("alprazolam") == {"IV"}
    assert schedules_for("lorazepam") == {"IV"}
    assert schedules_for("tramadol") == {"IV"}
    assert schedules_for("buprenorphine") == {"III"}
    assert schedules_for("codeine") == {"II"}
    by_name = {p["name"].lower(): p["rxcui"] for p in products}
    assert schedules[by_name["acetaminophen 300 mg / codeine phosphate 30 mg oral tablet"]] == "III"
    assert (
        schedules[by_name["codeine phosphate 2 mg/ml / promethazine hydrochloride 1.25 mg/ml oral solution"]]
        == "V"
    )
    # naloxone alone is not controlled
    naloxone = [
        p["rxcui"] for p in products if [i["name"] for i in p["ingredients"]] == ["naloxone hydrochloride"]
    ]
    assert naloxone
    assert not set(naloxone) & set(schedules)


# --------------------------------------------------------------------------------------- ICD-10-CM


def test_icd10cm():
    codes = list(refdata.iter_icd10cm())
    assert len(codes) > 70000
    billable = sum(1 for c in codes if c.billable)
    assert billable > 70000
    by_code = {c.code: c for c in codes}
    assert by_code["E11.9"].billable is True
    assert "diabetes" in by_code["E11.9"].description.lower()
    assert by_code["E11"].billable is False
    assert by_code["U07.1"].description == "COVID-19"
    assert "S72.001A" in by_code
    assert by_code["I10"].billable is True
    for code, description, is_billable in codes[:50]:
        assert len(code) == 3 or code[3] == "."
        assert description
        assert isinstance(is_billable, bool)


# ------------------------------------------------------------------------------------------- LOINC


def test_loinc_vitals():
    vitals = {v["code"]: v for v in refdata.iter_loinc_vitals()}
    assert len(vitals) >= 20
    assert vitals["8480-6"]["name"] == "Systolic blood pressure"
    assert vitals["8480-6"]["unit"] == "mm[Hg]"
    assert vitals["39156-5"]["unit"] == "kg/m2"
    assert "BMI" in vitals["39156-5"]["name"]
    assert vitals["29463-7"]["unit"] == "kg"
    assert "[lb_av]" in vitals["29463-7"]["units"]
    assert vitals["85354-9"]["unit"] is None  # panel, no value of its own


# -------------------------------------------------------------------------------------------- FHIR


def test_synthea_bundles():
    paths = refdata.synthea_bundle_paths()
    assert len(paths) == 5
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "transaction"
        assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient") == 1
