"""Where a `next` value may send the browser: only a local path on this site.

The one rule for every "go back to where you were" redirect (second-factor page, scheduling forms): a value is
followed only if it is a path beginning with a single "/" that Django's `url_has_allowed_host_and_scheme` also
accepts (it refuses "//evil", "/\\evil", schemes, control characters). Anything else goes to the default. The value is
never resolved as a URL name (`redirect("foo")` raised NoReverseMatch: a 500).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def local_path(value: str | None, *, request: HttpRequest) -> str | None:
    """`value` if it is a local path ("/..." but not "//..." or "/\\..."), else None."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    return value


def safe_next(request: HttpRequest, default: str = "/", *, value: str | None = None) -> str:
    """The posted (or queried) `next`, when it is a local path; otherwise `default` (a path or a URL name)."""
    if value is None:
        value = request.POST.get("next") or request.GET.get("next")
    return local_path(value, request=request) or resolve_url(default)


def redirect_back(
    request: HttpRequest, default: str = "/", *, value: str | None = None
) -> HttpResponseRedirect:
    """Redirect to `next` when it is a local path, else to `default` (a path or a URL name)."""
    return HttpResponseRedirect(safe_next(request, default, value=value))
