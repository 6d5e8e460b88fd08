"""Every URL of the project, for every persona, answers exactly what its app's matrix says.

Each app lists its URLs in `tests/<app>/matrix.py` (project-level URLs in tests/ehr_matrix.py):

    ENTRIES = [{"name": "patients:detail",                      # URL name, with namespace
                "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
                "method": "get",                                # or "post"; default "get"
                "data": lambda ctx: {...},                      # optional query string / form data
                "expect": {"clinician": 200, "colleague": 404, ..., "anonymous": 302}}]
    def setup(ctx): ...                                         # optional: add ids to ctx (runs per entry)

ctx has .patient (on clinician's and nurse's team, in front_desk's and admin_user's department), .other_patient
(nobody's), .users[persona] (also as attributes: ctx.clinician ...). "kwargs" and "data" may also be plain dicts. Every persona must be listed in "expect". Each persona's request runs in a savepoint
that is rolled back, so a POST by one persona never changes what the next one sees.

A URL name without an entry fails test_every_url_has_an_entry (the message names each missing one), unless its
namespace is EXEMPT: the Django admin (its own permission system, OTPAdminSite, whose get_queryset/get_object go
through the patient selectors — tested with the admin) and the OAuth2 provider (token endpoints, tested with the
FHIR API).
"""

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import verified_client

TESTS = Path(__file__).resolve().parent
PERSONAS = ["clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous"]
EXEMPT = {"admin", "oauth2_provider"}
ENFORCED_APPS = [
    "patients",
    "audit",
    "accounts",
    "ehr",
    "scheduling",
    "encounters",
    "prescriptions",
    "orders",
    "inbox",
    "fhirapi",
    "clinic",
]


def url_names(resolver=None, ns: str = "") -> list[str]:
    """Every named URL pattern, with namespaces; unnamed ones as '<unnamed:pattern>'."""
    out = []
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            inner = f"{ns}{p.namespace}:" if p.namespace else ns
            out += url_names(p, inner)
        elif isinstance(p, URLPattern):
            out.append(f"{ns}{p.name}" if p.name else f"{ns}<unnamed:{p.pattern}>")
    return out


def matrix_modules():
    mods = {}
    for path in sorted(TESTS.glob("*/matrix.py")):
        mods[path.parent.name] = importlib.import_module(f"tests.{path.parent.name}.matrix")
    mods["ehr"] = importlib.import_module("tests.ehr_matrix")
    return mods


MODULES = matrix_modules()
ALL_ENTRIES = [(app, i, e) for app, mod in MODULES.items() for i, e in enumerate(mod.ENTRIES)]


def _app_of(name: str) -> str:
    return name.split(":", 1)[0] if ":" in name else "ehr"


def test_every_url_has_an_entry():
    covered = {e["name"] for _, _, e in ALL_ENTRIES}
    missing: dict[str, list[str]] = {}
    for name in url_names():
        if _app_of(name) in EXEMPT or name in covered:
            continue
        missing.setdefault(_app_of(name), []).append(name)
    lines = [
        f"  {app} ({'no tests/' + app + '/matrix.py' if app not in MODULES else 'matrix.py'}): "
        + ", ".join(sorted(names))
        for app, names in sorted(missing.items())
    ]
    assert not missing, "URLs without an authorization-matrix entry:\n" + "\n".join(lines)


def test_entries_are_well_formed():
    names = set(url_names())
    for app, i, e in ALL_ENTRIES:
        assert e["name"] in names, f"{app} entry {i}: no URL named {e['name']}"
        assert set(e["expect"]) == set(PERSONAS), f"{app} entry {i} ({e['name']}): list every persona"
        assert e.get("method", "get") in ("get", "post")


def _value(v, ctx):
    return v(ctx) if callable(v) else v


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("app", "index", "entry"),
    ALL_ENTRIES,
    ids=[f"{e['name']}-{e.get('method', 'get')}-{i}" for _, i, e in ALL_ENTRIES],
)
def test_matrix(request, app, index, entry, patient, other_patient):
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    ctx = SimpleNamespace(patient=patient, other_patient=other_patient, users=users, **users)
    if hasattr(MODULES[app], "setup"):
        MODULES[app].setup(ctx)
    url = reverse(entry["name"], kwargs=_value(entry.get("kwargs", {}), ctx))
    method = entry.get("method", "get")
    data = _value(entry.get("data", {}), ctx)
    secrets = [s for p in (patient, other_patient) for s in (p.mrn, p.family_name)]
    wrong = []
    for persona, expected in entry["expect"].items():
        with transaction.atomic():
            client = Client()
            if persona != "anonymous":
                verified_client(client, users[persona])
            resp = getattr(client, method)(url, data)
            transaction.set_rollback(True)
        if resp.status_code != expected:
            wrong.append(f"{persona}: {resp.status_code} (expected {expected})")
            continue
        if persona == "anonymous" and expected == 302:
            assert resp.url.startswith(reverse(settings.LOGIN_URL)), f"{url}: anonymous sent to {resp.url}"
        if expected == 404:
            body = resp.content.decode()
            leaked = [s for s in secrets if s in body]
            assert not leaked, f"{entry['name']} 404 for {persona} shows {leaked}"
        if entry.get("hides_other") and expected == 200:
            body = resp.content.decode()  # (the typed query is echoed back; the record must not be)
            assert other_patient.family_name not in body, f"{persona} sees the other patient in {url}"
            assert str(other_patient.pk) not in body, f"{persona} gets a link to the other patient in {url}"
    assert not wrong, f"{method.upper()} {url}: " + "; ".join(wrong)
