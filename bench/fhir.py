"""Figure 5: the FHIR import rate (fhirapi.services.bundle_import) against PostgreSQL COPY of the same rows.

The bundles are the shipped Synthea ones (data/fhir/synthea), cloned with fresh ids: every random (version 4)
UUID is replaced, consistently within a clone, so references (urn:uuid:...) still resolve; the name-based ones
(version 3: practitioners, organisations, locations) stay, as they do across one Synthea export, so a round's
clones share their practitioners.

The COPY side loads exactly the rows the import wrote, table by table: a warm-up import round is read back with
`COPY (SELECT ...) TO STDOUT` (patients, their clinical rows, the practitioners' user rows, the import links, the
write-log entries and access events), and each round loads that text again with every UUID replaced, new MRNs,
usernames and link source (the unique columns), in one transaction. Same tables, same row counts, same indexes
and triggers: the ratio is what the importer's parsing, validation and ORM cost on top of the bare load.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from pathlib import Path

from django.db import connection, transaction

from .measure import spread

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT / "data" / "fhir" / "synthea"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
SOURCE_PREFIX = "bench-fhir-"


def bundle_texts() -> list[str]:
    return [p.read_text() for p in sorted(SYNTHEA.glob("*.json"))]


def clone(text: str, *, keep_named: bool = True) -> str:
    """The text with every random UUID replaced by a new one (the same new one for each occurrence)."""
    mapping: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        old = m.group(0)
        if keep_named and m.group(1) != "4":
            return old
        new = mapping.get(old)
        if new is None:
            new = mapping[old] = str(uuid.uuid4())
        return new

    return UUID_RE.sub(sub, text)


def _max_id(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        return cur.fetchone()[0]


def _tables():
    """(model, how its new rows are found): 'patient' (patient_id), 'self' (the patient table), 'serial' (id)."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    out = [(apps.get_model("patients.Patient"), "self"), (get_user_model(), "serial")]
    for label in (
        "Encounter",
        "Problem",
        "Allergy",
        "Immunization",
        "MedicationStatement",
        "Observation",
        "VitalSigns",
    ):
        out.append((apps.get_model("encounters", label), "patient"))
    out.append((apps.get_model("fhirapi.KeptResource"), "patient"))  # resources kept as received
    out += [
        (apps.get_model("fhirapi.ImportedRecord"), "serial"),
        (apps.get_model("auditlog.LogEntry"), "serial"),
        (apps.get_model("audit.AccessEvent"), "serial"),
    ]
    return out


class Template:
    """The rows one import round wrote, as COPY text per table (serial ids left to the sequences)."""

    def __init__(self, *, patient_ids: list, before: dict[str, int], source: str):
        self.source = source
        self.parts: list[tuple[str, list[str], str, int]] = []  # table, columns, text, rows
        ids = [str(p) for p in patient_ids]
        for model, how in _tables():
            meta = model._meta
            cols = [f.column for f in meta.concrete_fields if not (how == "serial" and f.primary_key)]
            if how == "self":
                where, params = "id = ANY(%s::uuid[])", [ids]
            elif how == "patient":
                where, params = "patient_id = ANY(%s::uuid[])", [ids]
            else:
                where, params = "id > %s", [before[meta.db_table]]
            with connection.cursor() as cur:
                sql = cur.mogrify(
                    f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {meta.db_table} WHERE {where}",
                    params,
                ).decode()
                buf = io.StringIO()
                cur.cursor.copy_expert(f"COPY ({sql}) TO STDOUT", buf)
            text = buf.getvalue()
            self.parts.append((meta.db_table, cols, text, text.count("\n")))

    @property
    def rows(self) -> dict[str, int]:
        return {t: n for t, _, _, n in self.parts}

    def fresh(self, *, tag: str) -> list[tuple[str, list[str], str]]:
        """The template's text with new UUIDs, MRNs, usernames and link source (the unique columns)."""
        from patients.mrn import luhn_digit

        mapping: dict[str, str] = {}

        def sub(m: re.Match) -> str:
            old = m.group(0)
            new = mapping.get(old)
            if new is None:
                new = mapping[old] = str(uuid.uuid4())
            return new

        out = []
        for table, cols, text, n in self.parts:
            text = UUID_RE.sub(sub, text)
            if table == "patients_patient" and n:
                i = cols.index("mrn")
                with connection.cursor() as cur:
                    cur.execute("SELECT nextval('patients_mrn_seq') FROM generate_series(1, %s)", [n])
                    seqs = [f"{r[0]:07d}" for r in cur.fetchall()]
                lines = []
                for line, body in zip(text.splitlines(), seqs, strict=True):
                    f = line.split("\t")
                    f[i] = body + luhn_digit(body)
                    lines.append("\t".join(f))
                text = "\n".join(lines) + "\n"
            elif table == "auth_user" and n:
                i = cols.index("username")
                lines = []
                for line in text.splitlines():
                    f = line.split("\t")
                    f[i] = f"{f[i][:100]}.{tag}"
                    lines.append("\t".join(f))
                text = "\n".join(lines) + "\n"
            elif table == "fhirapi_importedrecord":
                text = text.replace(f"\t{self.source}\t", f"\t{self.source}-{tag}\t")
            out.append((table, cols, text))
        return out


def copy_load(parts) -> float:
    """Load prepared COPY text into the tables in one transaction; seconds taken."""
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        for table, cols, text in parts:
            if text:
                cur.cursor.copy_expert(
                    f"COPY {table} ({', '.join(chr(34) + c + chr(34) for c in cols)}) FROM STDIN",
                    io.StringIO(text),
                )
    return time.perf_counter() - t0


def import_round(texts: list[str], *, k: int, source: str) -> tuple[float, int, list]:
    """Import k cloned bundles (one transaction each, as the importer works); seconds, resources, patient ids."""
    from fhirapi.services import bundle_import, import_account

    actor = import_account()
    bundles = [
        json.loads(clone(texts[i % len(texts)])) for i in range(k)
    ]  # cloning is not the importer's cost
    resources, patients = 0, []
    t0 = time.perf_counter()
    for b in bundles:
        r = bundle_import(actor=actor, bundle=b, source=source)
        resources += r.resources
        patients += r.patient_ids
    return time.perf_counter() - t0, resources, patients


def fig_fhir(b, *, bundles: int) -> None:
    from .figures import TARGETS

    key = "fhir_import_rate"
    label = "FHIR import / COPY of the same rows"
    try:
        from fhirapi.services import bundle_import  # noqa: F401
    except ImportError as exc:
        b.row(key, label, None, "x", skipped=f"fhirapi.services.bundle_import is not importable: {exc}")
        return
    texts = bundle_texts()
    if not texts:
        b.row(key, label, None, "x", skipped=f"no Synthea bundles in {SYNTHEA}")
        return
    from fhirapi.services import import_account

    import_account()  # made once, before the warm-up round is read back (the COPY side must not copy it)
    run = uuid.uuid4().hex[:8]
    before = {m._meta.db_table: _max_id(m._meta.db_table) for m, how in _tables() if how == "serial"}
    try:
        t, resources0, patients = import_round(texts, k=bundles, source=f"{SOURCE_PREFIX}{run}-0")
    except Exception as exc:  # the importer is being finished: report, measure the rest
        b.row(key, label, None, "x", skipped=f"bundle_import failed: {type(exc).__name__}: {exc}"[:300])
        return
    template = Template(patient_ids=patients, before=before, source=f"{SOURCE_PREFIX}{run}-0")
    rows = template.rows

    ratios, imp_rates, copy_rates, imp_s, copy_s = [], [], [], [], []
    for r in range(max(2, b.rounds)):
        prepared = template.fresh(tag=f"{run}c{r}")

        def do_import(r=r):
            t, n, _ = import_round(texts, k=bundles, source=f"{SOURCE_PREFIX}{run}-{r + 1}")
            imp_s.append(t)
            imp_rates.append(n / t)
            return t

        def do_copy(prepared=prepared):
            t = copy_load(prepared)
            copy_s.append(t)
            copy_rates.append(resources0 / t)
            return t

        # alternate which side goes first, so drift and background load hit both
        got = [do_import(), do_copy()] if r % 2 == 0 else [do_copy(), do_import()][::-1]
        ratios.append(got[1] / got[0])  # copy seconds / import seconds = import rate / copy rate
    b.row(
        key,
        label,
        spread(ratios, 3),
        "x",
        target=TARGETS["import"],
        op=">=",
        detail={
            "bundles_per_round": bundles,
            "resources_per_round": resources0,
            "import_resources_per_s": spread(imp_rates, 0),
            "copy_same_rows_resources_per_s": spread(copy_rates, 0),
            "import_s": spread(imp_s, 3),
            "copy_s": spread(copy_s, 3),
            "rows_per_round": rows,
            "note": "ratio = COPY seconds / import seconds for the same rows per table, alternating rounds",
        },
    )
    b.row(
        "fhir_import_resources_per_s",
        "FHIR import rate",
        spread(imp_rates, 0),
        "resources/s",
        detail={"bundles_per_round": bundles, "source_files": len(texts)},
    )
