"""What the fuzz suite reaches: every URL name of the authorization matrix (tests/*/matrix.py, so a new URL is
fuzzed as soon as it has its matrix entry), with the form fields found on the project's own pages.

Forms are discovered, not listed: `catalogue()` signs in as each persona, GETs every page the matrix lets that
persona see, and reads each <form> and htmx element (action or hx-post/hx-get, field names, default values and
options). A field set is kept per URL name the form submits to; POST-only URLs get theirs from the pages that post
to them, and the matrix entry's own data adds its keys.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import lxml.html
from django.urls import Resolver404, resolve, reverse

from tests.test_authorization_matrix import ALL_ENTRIES, MODULES, PERSONAS, _value

STAFF = [p for p in PERSONAS if p != "anonymous"]
# One entry per URL name: the first, whose kwargs name the matrix's own records.
FIRST_ENTRY: dict[str, tuple[str, dict]] = {}
for _app, _i, _e in ALL_ENTRIES:
    FIRST_ENTRY.setdefault(_e["name"], (_app, _e))
URL_NAMES = sorted(FIRST_ENTRY)

_CATALOGUE: dict[str, dict[str, dict[str, list[str]]]] = {}


def url_for(name: str, ctx) -> str:
    app, entry = FIRST_ENTRY[name]
    return reverse(name, kwargs=_value(entry.get("kwargs", {}), ctx))


def kwargs_for(name: str, ctx) -> dict:
    return {k: str(v) for k, v in _value(FIRST_ENTRY[name][1].get("kwargs", {}), ctx).items()}


def _name_of(url: str) -> str | None:
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return match.view_name


_ID_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def field_name(name: str, kwargs: dict[str, str]) -> str:
    """A catalogued field name for this request: "{id}-" prefixes (a form prefixed with its record's id) take
    the id of the record in the URL."""
    if name.startswith("{id}-") and kwargs:
        return next(iter(kwargs.values()))[:8] + name[4:]
    return name


def _fields(root) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for el in root.iter("input", "select", "textarea", "button"):
        name = _ID_PREFIX.sub("{id}-", el.get("name") or "")
        if not name or name == "csrfmiddlewaretoken":
            continue
        vals = out.setdefault(name, [])
        if el.tag == "select":
            vals += [o.get("value", o.text or "") for o in el.iter("option")][:5]
        elif el.tag == "textarea":
            vals.append(el.text or "")
        elif el.get("value") is not None:
            vals.append(el.get("value"))
    return out


def parse_forms(page_url: str, html: str) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(url name, method, fields) for each form and htmx element on the page."""
    try:
        doc = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    found = []
    for form in doc.iter("form"):
        method = (form.get("method") or "get").lower()
        action = form.get("hx-post") or form.get("hx-get") or form.get("action") or page_url
        if form.get("hx-post"):
            method = "post"
        found.append((action, method, _fields(form)))
    for el in doc.xpath("//*[(@hx-post or @hx-get) and not(self::form)]"):
        method = "post" if el.get("hx-post") else "get"
        owner = next((a for a in el.iterancestors("form")), None)
        fields = _fields(owner if owner is not None else el)
        if el.get("name"):
            fields.setdefault(el.get("name"), []).append(el.get("value", ""))
        found.append((el.get("hx-post") or el.get("hx-get"), method, fields))
    out = []
    for action, method, fields in found:
        name = _name_of(action)
        if name:
            query = urlsplit(action).query
            for pair in filter(None, query.split("&")):
                k, _, v = pair.partition("=")
                fields.setdefault(k, []).append(v)
            out.append((name, method, fields))
    return out


def catalogue(ctx, clients) -> dict[str, dict[str, dict[str, list[str]]]]:
    """{url name: {"get"|"post": {field: [sample values]}}}, built once per session (field names do not depend
    on the records' ids)."""
    if _CATALOGUE:
        return _CATALOGUE
    for app, _i, entry in ALL_ENTRIES:
        if entry.get("method", "get") != "get":
            for k, v in (_value(entry.get("data", {}), ctx) or {}).items():
                _CATALOGUE.setdefault(entry["name"], {}).setdefault("post", {}).setdefault(k, []).append(
                    str(v)
                )
            continue
        if hasattr(MODULES[app], "setup") and not getattr(ctx, f"_setup_{app}", False):
            MODULES[app].setup(ctx)
            setattr(ctx, f"_setup_{app}", True)
        url = reverse(entry["name"], kwargs=_value(entry.get("kwargs", {}), ctx))
        for persona in STAFF:
            if persona == "colleague" or entry["expect"][persona] != 200:  # (colleague: clinician's role)
                continue
            resp = clients[persona].get(url, _value(entry.get("data", {}), ctx))
            if resp.status_code != 200 or "html" not in resp.get("Content-Type", ""):
                continue
            for name, method, fields in parse_forms(url, resp.content.decode(errors="replace")):
                slot = _CATALOGUE.setdefault(name, {}).setdefault(method, {})
                for k, vals in fields.items():
                    slot.setdefault(k, [])
                    slot[k] += [v for v in vals if v not in slot[k]][:5]
    return _CATALOGUE
