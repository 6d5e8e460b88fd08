"""A refused form (CSRF) gets our plain page: what to do, nothing about the system, nothing the CSP blocks."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_form_without_a_valid_token_gets_the_plain_expired_page(nurse):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "nurse.nina", "password": "whatever"})

    assert response.status_code == 403
    assert [t.name for t in response.templates] == ["errors/csrf_failure.html"]
    html = response.content.decode()
    assert "Reload the page and try again" in html
    for leak in ("DEBUG", "Django", "CSRF", "csrf", "Referer", "cookie", "settings"):
        assert leak not in html, leak
    # CSP-clean: no inline style or script for the policy to block.
    assert not re.search(r"<style|style=|<script", html)
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "_auth_user_id" not in client.session


def test_a_signed_in_user_posting_a_stale_form_gets_it_too(login, nurse):
    client = login(nurse)
    client.handler.enforce_csrf_checks = True

    response = client.post("/accounts/password/change/", {"old_password": "x"})

    assert response.status_code == 403
    assert "This page has expired" in response.content.decode()
