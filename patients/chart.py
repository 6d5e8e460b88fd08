"""Chart sections contributed by other apps (encounters, prescriptions) to the patient's chart page.

An app registers a function in its AppConfig.ready():
    chart.register(order=20, name="encounters", fn=encounters.selectors.chart_section)
fn(*, actor, patient, request) -> dict(template=..., **context) or None. It receives a patient already fetched
through patient_get (access checked and recorded) and must run a constant number of queries.
"""

from collections.abc import Callable

_SECTIONS: list[tuple[int, str, Callable]] = []


def register(*, order: int, name: str, fn: Callable) -> None:
    if all(n != name for _, n, _ in _SECTIONS):
        _SECTIONS.append((order, name, fn))
        _SECTIONS.sort(key=lambda s: s[0])


def sections(*, actor, patient, request) -> list[dict]:
    out = []
    for _, name, fn in _SECTIONS:
        part = fn(actor=actor, patient=patient, request=request)
        if part:
            part.setdefault("name", name)
            out.append(part)
    return out
