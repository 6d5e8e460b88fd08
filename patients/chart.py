"""The patient's chart page: sections contributed by other apps, and the cache of the rendered page.

Sections. An app registers a function in its AppConfig.ready():
    chart.register(order=20, name="encounters", fn=encounters.selectors.chart_section)
fn(*, actor, patient, request) -> dict(template=..., **context) or None. It receives a patient already fetched
through patient_get (access checked and recorded) and must run a constant number of queries.

The page cache. The rendered page (banner, sections, demographics, care team, the top bar) is kept per (patient,
chart version, user, what the user may do on the patient, day, code) in the cache, encrypted (AES-GCM, the field
encryption key, the cache key bound in as associated data), for CHART_CACHE_SECONDS (settings; 0 turns it off).
The database bumps the chart version on every write to the patient row or to a record the page shows
(patients/chartversion.py), so a cached page is never staler than the patient's data; what it shows from outside
them (a provider's or a pharmacy's name, the staff the care-team form offers, the user's own menu) may lag by up to
the TTL. The door is not cached: every view still checks the permission and writes its access event before the
cache is read (patients/views.py). Forms carry a placeholder where the CSRF token goes; each response puts in its
own. A request with a query string or with messages to show is drawn, not cached.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache as django_cache
from django.middleware.csrf import get_token
from django.utils import timezone

from . import crypto

log = logging.getLogger(__name__)

_SECTIONS: list[tuple[int, str, Callable]] = []

CSRF_PLACEHOLDER = "csrftokenplaceholder8f3a1c"  # letters only: format_html leaves it as it is


def register(*, order: int, name: str, fn: Callable) -> None:
    if all(n != name for _, n, _ in _SECTIONS):
        _SECTIONS.append((order, name, fn))
        _SECTIONS.sort(key=lambda s: s[0])


# Clinic-wide settings a section draws with (the units of vital signs): part of the cached page's key, so changing
# one is seen at once. Each returns a short hashable value.
_PAGE_VARIANTS: list[Callable[[], object]] = []


def register_variant(fn: Callable[[], object]) -> None:
    if fn not in _PAGE_VARIANTS:
        _PAGE_VARIANTS.append(fn)


def sections(*, actor, patient, request) -> list[dict]:
    out = []
    for _, name, fn in _SECTIONS:
        part = fn(actor=actor, patient=patient, request=request)
        if part:
            part.setdefault("name", name)
            out.append(part)
    return out


@cache
def _code_stamp() -> str:
    """A digest of the templates and the apps' code: a deploy never serves a page the old code drew."""
    base = Path(settings.BASE_DIR)
    h = hashlib.sha256()
    for path in sorted([*base.glob("templates/**/*.html"), *base.glob("*/*.py")]):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def page_key(*, actor, patient, variant: tuple = ()) -> str:
    access = patient.access
    who = hashlib.sha256(
        repr(
            (
                sorted(access.perms),
                access.break_glass,
                access.administers,
                variant,
                [f() for f in _PAGE_VARIANTS],
            )
        ).encode()
    ).hexdigest()[:16]
    return (
        f"chart:{_code_stamp()}:{patient.pk}:{patient.chart_version}:{actor.pk}:{who}:"
        f"{timezone.localdate().isoformat()}"
    )


def _cacheable(request) -> bool:
    return settings.CHART_CACHE_SECONDS > 0 and not request.GET and not len(get_messages(request))


def page(*, actor, patient, request, draw: Callable[[str], str], variant: tuple = ()) -> str:
    """The chart page of `patient` (already through the door), from the cache or drawn by `draw(csrf_token)`.

    `variant` names anything else the page depends on (e.g. a role-wide permission shown as a link)."""
    if not _cacheable(request):
        return draw(get_token(request))
    key = page_key(actor=actor, patient=patient, variant=variant)
    html = None
    try:
        stored = django_cache.get(key)
    except Exception:  # the cache is an accelerator: without Redis the page is drawn every time
        log.warning("chart page cache unavailable", exc_info=True)
        stored = None
    if stored is not None:
        try:
            html = crypto.decrypt(stored, context=key)
        except crypto.DecryptionError:  # a rotated key: draw it again
            html = None
    if html is None:
        html = draw(CSRF_PLACEHOLDER)
        try:
            django_cache.set(key, crypto.encrypt(html, context=key), settings.CHART_CACHE_SECONDS)
        except Exception:
            log.warning("chart page cache unavailable", exc_info=True)
    return html.replace(CSRF_PLACEHOLDER, get_token(request))
