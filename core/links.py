"""Links to one object's page, for pages that list many rows.

`reverse()` walks the URL resolver on every call (about 80 microseconds here); a chart with 30 linked rows paid
2-3 ms for it. `pk_url(viewname, pk)` reverses the view once per process (and script prefix) with a marker for the
key, and afterwards only puts the key in. It serves URL patterns that take one UUID or integer key and nothing else.
"""

from __future__ import annotations

import uuid

from django.urls import get_script_prefix, reverse

_MARK = uuid.UUID("0ddba11c-0000-4000-8000-0000000000ff")
_SHAPES: dict[tuple[str, str], tuple[str, str]] = {}


def pk_url(viewname: str, pk) -> str:
    """reverse(viewname, args=[pk]) for a UUID or integer pk."""
    key = (get_script_prefix(), viewname)
    shape = _SHAPES.get(key)
    if shape is None:
        head, sep, tail = reverse(viewname, args=[_MARK]).partition(str(_MARK))
        if not sep or str(_MARK) in tail:
            raise ValueError(f"{viewname} does not take one key in its path")
        shape = _SHAPES[key] = (head, tail)
    return f"{shape[0]}{pk}{shape[1]}"
