"""Every URL of the project (every matrix entry's URL name), as every persona, with generated bad input:
query strings, form posts with the fields its pages really send, invalid ids in the path, malformed JSON and XML
bodies, oversized bodies, and posts without a CSRF token.

Each request must answer below 500, never send a generated markup probe back unescaped, and leave no half-saved
rows: a refused request changes no table outside the audit trail and sessions (tests/fuzz/checks.py); an accepted
one stores the probe values as sent.

Two tests per URL: `values` (everything but control characters) and `control` (NUL and other control characters,
refused at the edge with a 400: issue 18, item 3).
"""

from __future__ import annotations

import itertools
from urllib.parse import quote

import pytest
from django.db import transaction
from django.urls import resolve
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import checks
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.strategies import INVALID_IDS, MALFORMED_JSON, MALFORMED_XML, bad_value
from tests.fuzz.targets import FIRST_ENTRY, URL_NAMES, catalogue, field_name, kwargs_for, url_for
from tests.test_authorization_matrix import PERSONAS

pytestmark = pytest.mark.django_db
KINDS = ["values", "control"]
EXTRA_NAMES = ["q", "date", "page", "id", "next", "provider", "status", "_count", "format"]
_tokens = itertools.count(1)


def _catalogue(world):
    with transaction.atomic():
        cat = catalogue(world.ctx, world.clients)
        transaction.set_rollback(True)
    return cat


@st.composite
def field_values(draw, fields, token: str, kind: str, kwargs=None) -> dict[str, list[str]]:
    """Each known field keeps a value its page offers, or gets a bad one; some are dropped, one may be added."""
    out: dict[str, list[str]] = {}
    bad = bad_value(token, kind)
    for catalogued, samples in sorted(fields.items()):
        name = field_name(catalogued, kwargs or {})
        choice = draw(st.sampled_from(["sample", "bad", "bad", "drop", "many"]))
        if choice == "sample" and samples:
            out[name] = [draw(st.sampled_from(samples))]
        elif choice == "many":
            out[name] = draw(st.lists(bad, min_size=2, max_size=3))
        elif choice != "drop":
            out[name] = [draw(bad)]
    if not fields or draw(st.booleans()):
        out[draw(st.sampled_from(EXTRA_NAMES))] = [draw(bad)]
    return out


def _send(client, method: str, url: str, **kw):
    checks.COUNT["requests"] += 1
    return getattr(client, method)(url, **kw)


def _check(resp, *, token, what, sent, since_xid, must_refuse, changed):
    assert resp.status_code < 500, f"{what}: {resp.status_code}"
    probe = checks.reflected(resp, token)
    assert probe is None, f"{what}: the probe {probe!r} came back unescaped"
    if must_refuse or checks.refused(resp):
        assert not changed, f"{what}: refused or a read ({resp.status_code}) but wrote rows of {changed}"
    else:
        wrong = checks.saved_as_sent(changed, since_xid, sent or {}, token)
        assert not wrong, f"{what}: a value was stored changed: {wrong}"


@st.composite
def request_of(draw, url, kwargs, forms, token, kind, modes):
    """(mode, method, target, kwargs for the client, what was sent)."""
    mode = draw(st.sampled_from(modes), label="mode")
    if mode == "get":
        sent = draw(field_values(forms.get("get") or {}, token, kind), label="query")
        return mode, "get", url, {"data": sent}, sent
    if mode in ("post", "csrf"):
        sent = draw(
            field_values(forms.get("post") or forms.get("get") or {}, token, kind, kwargs), label="form"
        )
        return mode, "post", url, {"data": sent}, sent
    if mode == "path":
        key = draw(st.sampled_from(sorted(kwargs)), label="path kwarg")
        bad = draw(st.one_of(st.sampled_from(INVALID_IDS), bad_value(token, kind)), label="id")
        method = draw(st.sampled_from(["get", "post"]), label="method")
        return mode, method, url.replace(kwargs[key], quote(bad, safe=""), 1), {}, {}
    ctype, body = draw(
        st.one_of(
            st.tuples(st.just("application/json"), st.sampled_from(MALFORMED_JSON)),
            st.tuples(st.just("application/xml"), st.sampled_from(MALFORMED_XML)),
            st.tuples(
                st.just("application/x-www-form-urlencoded"),
                st.sampled_from([b"a=" + b"x" * 3_000_000, b"&".join([b"f=1"] * 2000), b"%zz=%"]),
            ),
        ),
        label="body",
    )
    return mode, "post", url, {"data": body, "content_type": ctype}, {}


def _fuzz_one(request, world, name, cat, kind):
    url = url_for(name, world.ctx)
    kwargs = kwargs_for(name, world.ctx)
    forms = cat.get(name, {})
    exempt = getattr(resolve(url).func, "csrf_exempt", False)
    modes = ["get", "post", "post", "body", "csrf"] + (["path"] if kwargs else [])
    expect = FIRST_ENTRY[name][1]["expect"]
    admitted = [p for p, code in expect.items() if code not in (302, 403, 404)] or PERSONAS

    @fuzz_settings(request.config, len(URL_NAMES) * len(KINDS))
    @given(data=st.data())
    def run(data):
        token = f"fz{next(_tokens)}q"
        # Mostly the personas the matrix lets in (their requests reach the forms), sometimes any.
        persona = data.draw(st.sampled_from(admitted) | st.sampled_from(PERSONAS), label="persona")
        mode, method, target, kw, sent = data.draw(request_of(url, kwargs, forms, token, kind, modes))
        client = (world.csrf_clients if mode == "csrf" else world.clients)[persona]
        if data.draw(st.booleans(), label="htmx"):
            kw = {**kw, "headers": {"HX-Request": "true"}}
        what = f"{method.upper()} {target} as {persona} ({mode}, {kind}) with {str(kw)[:300]}"
        with transaction.atomic():
            counters, since = checks.write_counters(), checks.next_xid()
            resp = _send(client, method, target, **kw)
            changed = checks.changed(checks.touched(counters, checks.write_counters()), since)
            _check(
                resp,
                token=token,
                what=what,
                sent=sent,
                since_xid=since,
                must_refuse=(mode == "csrf" and not exempt) or method == "get",
                changed=changed,
            )
            transaction.set_rollback(True)
        if mode == "csrf" and not exempt:
            # 403 from the CSRF check, or 400 when the edge refused a control character first (it runs before)
            refused = (403, 400) if kind == "control" else (403,)
            assert resp.status_code in refused, (
                f"{what}: a POST without a CSRF token answered {resp.status_code}"
            )

    run()


APPS = sorted({FIRST_ENTRY[n][0] for n in URL_NAMES})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("app", APPS)
def test_fuzz_urls(request, world, app, kind):
    """Every URL name of the app's matrix, fuzzed in turn; the failures of all of them are reported together."""
    cat = _catalogue(world)
    world.setup(app)
    failures = []
    for name in (n for n in URL_NAMES if FIRST_ENTRY[n][0] == app):
        try:
            _fuzz_one(request, world, name, cat, kind)
        except Exception as exc:  # noqa: BLE001 - collected and reported below, with the falsifying example
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, f"{len(failures)} URL(s) of {app} failed:\n" + "\n".join(failures)
