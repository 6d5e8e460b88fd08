"""core/redirects.py: a `next` value is followed only when it is a local path beginning with a single "/"."""

import pytest
from django.test import RequestFactory

from core.redirects import local_path, redirect_back, safe_next

FOLLOWED = ["/", "/patients/", "/schedule/?date=2026-01-05#x", "/a//b"]
REFUSED = [
    "",
    None,
    "foo",
    "home",
    "patients/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https://evil.example/",
    "http://testserver/patients/",  # even this site's absolute URL: paths only
    "javascript:alert(1)",
    " /patients/",
    "/\t/evil.example/",
]


@pytest.mark.parametrize("value", FOLLOWED)
def test_local_paths_are_followed(value):
    request = RequestFactory().post("/x", {"next": value})

    assert local_path(value, request=request) == value
    assert redirect_back(request, "/home-default/").url == value


@pytest.mark.parametrize("value", REFUSED)
def test_anything_else_goes_to_the_default(value):
    request = RequestFactory().post("/x", {} if value is None else {"next": value})

    assert local_path(value, request=request) is None
    assert safe_next(request, "/home-default/") == "/home-default/"
    assert redirect_back(request, "/home-default/").url == "/home-default/"


def test_the_default_may_be_a_url_name():
    request = RequestFactory().get("/x", {"next": "//evil.example/"})

    assert safe_next(request, "accounts:security") == "/accounts/security/"


@pytest.mark.parametrize("value", ["/\\evil.example/", "//evil.example/", "https://evil.example/", "foo"])
def test_the_scheduling_forms_back_redirect_stays_on_this_site(value):
    """Issue 18 #10: the scheduling views` `_back` (now core.responses.back) let "/\\evil.example/" through (browsers read it as "//evil.example/")."""
    from core.responses import back as _back

    request = RequestFactory().post("/schedule/x/", {"next": value})

    assert _back(request, "/schedule/").url == "/schedule/"
    assert _back(RequestFactory().post("/x", {"next": "/schedule/?date=2026-01-05"}), "/").url == (
        "/schedule/?date=2026-01-05"
    )
