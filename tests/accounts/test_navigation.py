"""The UI shell: role-aware navigation, the global patient search, landmarks and labels."""

import pytest

pytestmark = pytest.mark.django_db


def home_html(login, user) -> str:
    response = login(user).get("/")
    assert response.status_code == 200
    return response.content.decode()


def nav_labels(html: str) -> list[str]:
    import re

    nav = re.search(r'<nav class="mainnav" aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    return re.findall(r">([^<>]+)</a>", nav)


def test_front_desk_sees_no_rx_inbox_and_no_audit(login, front_desk):
    html = home_html(login, front_desk)

    assert nav_labels(html) == ["Home", "Patients", "Schedule", "Pharmacies"]
    assert 'role="search"' in html


def test_privacy_officer_sees_audit_and_no_patient_search(login, privacy):
    html = home_html(login, privacy)

    assert nav_labels(html) == ["Home", "Audit"]
    assert 'role="search"' not in html
    assert 'id="global-q"' not in html


def test_clinician_sees_the_inbox_and_search(login, clinician):
    html = home_html(login, clinician)

    assert nav_labels(html) == [
        "Home",
        "Patients",
        "Schedule",
        "Inbox",
        "Results",
        "Needs attention",
        "Pharmacies",
    ]
    assert 'hx-get="/patients/"' in html


def test_nurse_sees_patients_and_the_inbox(login, nurse):
    assert nav_labels(home_html(login, nurse)) == [
        "Home",
        "Patients",
        "Schedule",
        "Inbox",
        "Unmatched results",
        "Needs attention",
        "Pharmacies",
    ]


def test_practice_admin_sees_the_admin(login, admin_user):
    assert nav_labels(home_html(login, admin_user)) == ["Home", "Schedule", "Clinic settings", "Admin"]


def test_the_admin_link_shows_exactly_when_the_admin_opens(login, admin_user, nurse):
    """The link and the admin site ask the same question: the role, not the is_staff flag."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.conftest import verified_client
    from tests.factories import UserFactory

    User = get_user_model()
    User.objects.filter(pk=admin_user.pk).update(is_staff=False)
    User.objects.filter(pk=nurse.pk).update(is_staff=True)
    root = UserFactory(username="root", is_superuser=True)
    for user, shown in ((admin_user, True), (nurse, False), (root, True)):
        client = verified_client(Client(), user)
        assert ("Admin" in nav_labels(client.get("/").content.decode())) is shown, user
        assert client.get("/admin/", follow=True).status_code == (200 if shown else 403), user


def test_current_page_is_marked(login, clinician):
    html = home_html(login, clinician)

    assert '<a href="/" aria-current="page">Home</a>' in html


def test_landmarks_and_labels(login, clinician):
    html = home_html(login, clinician)

    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert '<header class="topbar" role="banner">' in html
    assert '<main id="main" tabindex="-1">' in html
    assert 'role="contentinfo"' in html
    assert '<label for="global-q" class="visually-hidden">Find a patient</label>' in html
    # The user menu is a native <details>/<summary>: focusable and opened with Enter or Space, no script.
    assert '<details class="usermenu">' in html
    assert "<summary" in html
    assert "Sign out" in html


def test_signed_out_pages_show_no_navigation(client):
    html = client.get("/accounts/login/").content.decode()

    assert "mainnav" not in html
    assert "usermenu" not in html


def test_pages_before_the_second_factor_show_no_navigation(client, clinician):
    client.force_login(clinician)  # password only

    html = client.get("/accounts/mfa/enroll/").content.decode()

    assert "mainnav" not in html
    assert "global-q" not in html
    assert "Sign out" in html  # the page's own way out
