"""Issue 17's acceptance test: every page of the demo clinic, as each persona, in Chromium.

The demo clinic (`manage.py demo_data`, a small one) is loaded; each persona of accounts/demo.py signs in (password,
then the TOTP code of its demo authenticator) and the crawl starts at the home page and follows every same-origin
link (GET only, as a person clicking would). Each page fails on:

- a browser console error or an uncaught page error;
- a same-origin request answered 4xx/5xx (the page itself, a stylesheet, a script, an image, an htmx fragment), or
  a link to a page that does not exist;
- horizontal overflow at 1366 x 900 (the page scrolls sideways);
- a raw UCUM unit code in the visible text (UCUM_RAW below), where a readable label exists (text marked
  `data-verbatim`, a message shown exactly as it was received, is not read).

Every failure of a page is reported together, with the persona and the URL. Each persona must reach at least
MIN_PAGES pages, so a broken login or an empty home page cannot pass by visiting nothing, and the checks are run
once on a page given each defect on purpose (_probe), so they cannot pass by seeing nothing. The clinician's home
page and a chart summary are also checked at 390 px (a phone; issue 17 item 7).

Start pages: the home page, and for those who see charts the chart with the most results (a Synthea import), since
the crawl visits only PER_PATTERN charts and the demo's first ones may have no results to show.

What is not followed: sign-out (a POST form anyway), downloads (iCalendar feeds, PDFs, CSV, NDJSON, ZIP), the FHIR
API and OAuth endpoints (JSON for programs, not pages), the Django admin beyond its index, and links that start an
external SMART app. Links with query strings could multiply without end (dates, pages, filters): pages are grouped by
their resolved URL name and the names of their query parameters, and at most PER_PATTERN of each group are visited.

UCUM and the readable labels the screens use (decided here, held by UCUM_RAW):
  [degF] -> °F, Cel -> °C, [lb_av] -> lb, [in_i] -> in, mm[Hg] -> mmHg, kg/m2 -> kg/m², 10*3/uL -> 10³/µL,
  uL/ug/umol -> µL/µg/µmol, {annotations} dropped or spelled out ({1.73_m2} -> 1.73 m²), [iU] -> IU.
  "/min" is allowed after a word ("beats/min", "breaths/min") and as the vitals' column unit, but a number followed
  directly by "/min" is not flagged either: "72 /min" is how the vitals table reads and is plain English
  (per minute). Only codes that differ from what a person writes are flagged, and units a capitalised table heading
  has shouted (µL -> ΜL, kg/m² -> KG/M²).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter, deque
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.urls import Resolver404, resolve

from accounts.demo import DEMO_PASSWORD
from encounters.models import Observation
from tests.conftest import browser_login, screenshot

pytestmark = pytest.mark.browser

PERSONAS = ["dr.house", "nurse.joy", "front.desk", "admin", "privacy"]
MIN_PAGES = {"dr.house": 25, "nurse.joy": 20, "front.desk": 10, "admin": 8, "privacy": 4}
PER_PATTERN = 2
# The demo's care team and front desk see every demo chart (the richest one is a start page for them).
SEES_CHARTS = {"dr.house", "nurse.joy", "front.desk"}
# A folder: a screenshot of every page visited, to look at (not kept).
SHOTS = os.environ.get("EHR_CRAWL_SHOTS")
MAX_PAGES = 120  # per persona: a bound on the run time should a page link to endless distinct patterns

SKIP_PREFIXES = ("/fhir/", "/o/", "/export/", "/smart/", "/.well-known/", "/static/", "/accounts/logout")
DOWNLOAD = re.compile(
    r"\.(ics|pdf|csv|ndjson|zip|json|txt|png|jpe?g)$|/(feed|download|print|card|pdf)/", re.I
)

# Raw UCUM codes that differ from the label a person reads. Word boundaries keep "Cel" out of "Celia".
UCUM_RAW = [
    (re.compile(r"\[(degF|degC|lb_av|in_i|in_us|oz_av|ft_i|iU|IU|Hg|HPF|LPF|pH)\]"), "bracketed UCUM unit"),
    (re.compile(r"(?<![\w°])Cel\b"), "Cel (°C)"),
    (re.compile(r"\bkg/m2\b|(?<=\d )m2\b"), "m2 (m²)"),
    (re.compile(r"\b10\*\d+\b"), "10*N (10ⁿ)"),
    (re.compile(r"\{[A-Za-z0-9_. ']+\}"), "UCUM {annotation}"),
    (re.compile(r"(?<=\d )u(L|g|mol|U)\b|\bu(L|g|mol|U)/|/u(L|g|mol)\b"), "u for µ"),
    # A unit in a capitalised heading: µ uppercases to Greek capital mu (ΜL), kg/m² to KG/M².
    (re.compile(r"\u039c(L|g|mol)\b|\bKG/M|\bMMHG\b"), "unit in capitals"),
]

OVERFLOW_JS = """() => {
  const d = document.documentElement;
  if (d.scrollWidth <= d.clientWidth + 1) return null;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > d.clientWidth + 1 && r.width > 0) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
      wide.push(name + ' right=' + Math.round(r.right));
      if (wide.length >= 5) break;
    }
  }
  return {scroll: d.scrollWidth, client: d.clientWidth, wide: wide};
}"""

LINKS_JS = """() => Array.from(document.querySelectorAll('a[href]'))
  .filter(a => !a.hasAttribute('download') && !(a.target && a.target !== '_self'))
  .map(a => a.href)"""


@pytest.fixture
def demo_clinic(transactional_db, settings):
    settings.DEBUG = True  # demo_data refuses otherwise (what `python3 dev.py run` sets)
    started = time.monotonic()
    call_command("demo_data", "--patients", "8", "--seed", "17", stdout=open(os.devnull, "w"))  # noqa: SIM115
    print(f"demo clinic loaded in {time.monotonic() - started:.0f} s")
    settings.DEBUG = False
    return {u.username: u for u in get_user_model().objects.filter(username__in=PERSONAS)}


def _pattern(path: str, query: str) -> str | None:
    """The URL's group for the per-pattern cap: its URL name and the names of its query parameters."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    keys = ",".join(sorted({k for k, _ in parse_qsl(query, keep_blank_values=True)}))
    return f"{match.view_name}?{keys}"


def _followable(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin or parts.scheme not in ("http", "https"):
        return False
    path = parts.path
    if path.startswith(SKIP_PREFIXES) or DOWNLOAD.search(path):
        return False
    # The admin: its index only (its model pages are Django's own).
    return not (path.startswith("/admin/") and path != "/admin/")


def ucum_shown(text: str) -> list[str]:
    found = []
    for rx, what in UCUM_RAW:
        for m in rx.finditer(text):
            start = max(0, m.start() - 30)
            found.append(f"{what}: …{text[start : m.end() + 10]!r}…")
    return found


class Watcher:
    """Console errors, page errors and failed same-origin requests of one page, collected between visits."""

    def __init__(self, page, origin: str):
        self.origin = origin
        self.problems: list[str] = []
        self.pending = 0
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _same_origin(self, url: str) -> bool:
        return url.startswith(self.origin + "/")

    def _response(self, resp):
        if self._same_origin(resp.url) and resp.status >= 400:
            kind = resp.request.resource_type
            self.problems.append(f"{resp.status} for {kind} {resp.url[len(self.origin) :]}")

    def _failed(self, req):
        failure = req.failure or ""
        if self._same_origin(req.url) and "ERR_ABORTED" not in failure:
            self.problems.append(f"request failed: {req.url[len(self.origin) :]} ({failure})")

    def take(self) -> list[str]:
        out, self.problems = self.problems, []
        return out


def _settle(page) -> None:
    """Until htmx has loaded what the page asks for on load (panels, lazy sections)."""
    page.wait_for_load_state("load")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        busy = page.evaluate("() => document.querySelectorAll('.htmx-request').length")
        if not busy:
            return
        page.wait_for_timeout(50)


def _check_page(page, watcher: Watcher) -> list[str]:
    problems = watcher.take()
    over = page.evaluate(OVERFLOW_JS)
    if over:
        problems.append(
            f"horizontal overflow at 1366 px: scrollWidth {over['scroll']} > {over['client']} ({over['wide']})"
        )
    text = page.inner_text("body")
    for verbatim in page.locator("[data-verbatim]").all_inner_texts():  # a message shown exactly as received
        text = text.replace(verbatim, "")
    problems += [f"raw UCUM code shown ({u})" for u in ucum_shown(text)]
    return problems


def crawl(context, origin: str, user, seeds=()) -> tuple[dict[str, list[str]], list[str]]:
    """Visit every page reachable from home (and from `seeds`) as `user`. Returns ({url: problems} for pages with
    problems, [urls visited])."""
    page = context.new_page()
    page.set_default_timeout(15000)
    watcher = Watcher(page, origin)
    browser_login(page, user, password=DEMO_PASSWORD)
    failures: dict[str, list[str]] = {}
    login_problems = watcher.take()
    if login_problems:
        failures["/accounts/login/"] = login_problems
    seen_pattern: Counter = Counter()
    starts = [origin + "/", *(origin + s for s in seeds)]
    queued = set(starts)
    todo = deque((u, "the start") for u in starts)
    visited: list[str] = []
    while todo and len(visited) < MAX_PAGES:
        url, came_from = todo.popleft()
        parts = urlsplit(url)
        pattern = _pattern(parts.path, parts.query)
        if pattern is None:
            failures[url] = [f"dead link (no such page), linked from {came_from}"]
            continue
        if seen_pattern[pattern] >= PER_PATTERN:
            continue
        seen_pattern[pattern] += 1
        try:
            resp = page.goto(url)
        except Exception as exc:  # a download answered a link that looked like a page
            if "Download is starting" in str(exc):
                continue
            raise
        if resp is not None and "text/html" not in (resp.headers.get("content-type") or ""):
            watcher.take()
            continue  # a file shown inline (a PDF): not a page
        _settle(page)
        visited.append(url)
        if SHOTS:
            name = re.sub(r"[^A-Za-z0-9]+", "_", pattern)[:80]
            page.screenshot(
                path=f"{SHOTS}/{user.username}-{name}-{seen_pattern[pattern]}.png", full_page=True
            )
        problems = _check_page(page, watcher)
        if resp is not None and resp.status >= 400:
            problems.insert(0, f"the page answered {resp.status} (linked from {came_from})")
        if page.url.startswith(origin + "/accounts/login"):
            problems.append(f"signed out by visiting it (linked from {came_from})")
            browser_login(page, user, password=DEMO_PASSWORD)
        if problems:
            failures[url] = problems
        for href in page.evaluate(LINKS_JS):
            link = urljoin(page.url, href).split("#", 1)[0]
            if link not in queued and _followable(link, origin):
                queued.add(link)
                todo.append((link, url[len(origin) :]))
    page.close()
    return failures, visited


def _report(results: dict[str, tuple[dict, list]]) -> str:
    lines = []
    for persona, (failures, _visited) in results.items():
        for url, problems in failures.items():
            lines.append(f"[{persona}] {url}")
            lines += [f"    - {p}" for p in problems]
    return "\n".join(lines)


def _phone(browser, origin: str, user, chart: str) -> dict[str, list[str]]:
    """Issue 17 item 7: nothing scrolls sideways at 390 px either (the clinician's home page and a chart summary)."""
    ctx = browser.new_context(base_url=origin, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = ctx.new_page()
    failures = {}
    try:
        browser_login(page, user, password=DEMO_PASSWORD)
        for url in ("/", chart):
            page.goto(url)
            _settle(page)
            over = page.evaluate(OVERFLOW_JS)
            screenshot(page, "phone-home" if url == "/" else "phone-chart")
            if over:
                failures[url] = [f"horizontal overflow at 390 px: {over}"]
    finally:
        ctx.close()
    return failures


def _probe(browser, origin: str, user) -> list[str]:
    """The checks themselves, on a page given each defect on purpose: what they report (so they cannot pass by
    seeing nothing)."""
    ctx = browser.new_context(base_url=origin, viewport={"width": 1366, "height": 900})
    page = ctx.new_page()
    watcher = Watcher(page, origin)
    try:
        browser_login(page, user, password=DEMO_PASSWORD)
        page.goto("/")
        _settle(page)
        watcher.take()
        page.evaluate(
            """() => {
              console.error('probe');
              const p = document.createElement('p');
              p.textContent = 'WBC 8.46 10*3/uL, temperature 37.2 Cel';
              p.style.width = '2000px';
              document.querySelector('main').append(p);
              const img = document.createElement('img');
              img.src = '/static/no-such-file.png';
              document.body.append(img);
            }"""
        )
        page.wait_for_load_state("networkidle")
        return _check_page(page, watcher)
    finally:
        ctx.close()


def test_every_page_as_every_persona(demo_clinic, browser, live_server):
    """One test, so the demo clinic is loaded once: the crawl of each persona, then the phone check."""
    origin = live_server.url
    # The chart with the most results (a Synthea import) is a start page too, for those who see charts: the crawl
    # visits PER_PATTERN charts, and the demo's first ones may have no results to show.
    richest = Observation.objects.values("patient").annotate(n=Count("id")).order_by("-n").first()["patient"]
    seeds = [f"/patients/{richest}/"]
    results = {}
    for username in PERSONAS:
        ctx = browser.new_context(base_url=origin, viewport={"width": 1366, "height": 900})
        try:
            started = time.monotonic()
            results[username] = crawl(
                ctx, origin, demo_clinic[username], seeds if username in SEES_CHARTS else ()
            )
            print(f"{username}: {len(results[username][1])} pages in {time.monotonic() - started:.0f} s")
        finally:
            ctx.close()
    results["dr.house at 390 px"] = (_phone(browser, origin, demo_clinic["dr.house"], seeds[0]), [])
    probe = " | ".join(_probe(browser, origin, demo_clinic["dr.house"]))
    for caught in (
        "console error: probe",
        "404 for image /static/no-such-file.png",
        "overflow",
        "10*N",
        "Cel",
    ):
        assert caught in probe, f"the checks missed a defect put there on purpose ({caught}): {probe}"
    assert not any(f for f, _v in results.values()), "pages with problems:\n" + _report(results)
    counts = {u: len(v) for u, (_f, v) in results.items() if u in MIN_PAGES}
    short = {u: n for u, n in counts.items() if n < MIN_PAGES[u]}
    assert not short, f"personas that reached too few pages (minimum {MIN_PAGES}): {short}"
