"""$everything paging and the `_since` instant (fhirapi/views.py)."""

from __future__ import annotations

from .search import SearchError


def instant_param(params, name: str):
    """An instant parameter (`_since`): a dateTime with a time and a zone, or SearchError."""
    from datetime import datetime

    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise SearchError(
            f"{name} must be an instant with a time zone (e.g. 2024-03-01T09:00:00Z), got {raw!r}."
        )
    return value


def everything_page(bundle: dict, request, count: int, offset: int) -> None:
    """Cut a $everything bundle to one page (the Patient first on the first page), with self/next/previous links."""
    from urllib.parse import urlencode

    entries = bundle.get("entry", [])
    bundle["entry"] = entries[offset : offset + count]
    base = request.build_absolute_uri(request.path)
    kept = [(k, v) for k in request.GET if k not in ("_count", "_offset") for v in request.GET.getlist(k)]

    def link(relation: str, at: int) -> dict:
        return {
            "relation": relation,
            "url": f"{base}?{urlencode([*kept, ('_count', count), ('_offset', at)])}",
        }

    bundle["link"] = [link("self", offset)]
    if count and offset + count < len(entries):
        bundle["link"].append(link("next", offset + count))
    if offset > 0:
        bundle["link"].append(link("previous", max(0, offset - count)))
    if not bundle["entry"]:
        del bundle["entry"]
