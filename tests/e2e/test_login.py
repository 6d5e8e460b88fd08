"""Signing in through a real browser: TOTP enrolment and verification, idle timeout, lockout; screenshots.

live_server runs in a thread of this process, so override_settings applies to it too.
"""

import base64
import time

import pytest
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.views import LOCKOUT_MESSAGE
from tests.conftest import browser_login, screenshot, totp_now
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def fill_login(page, username, password):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def sign_out(page):
    page.click(".usermenu summary")
    page.click("text=Sign out")
    page.wait_for_url("**/accounts/login/")


def test_clinician_enrols_on_first_sign_in_then_signs_in_with_a_code(page, clinician):
    page.goto("/accounts/login/")
    screenshot(page, "login")
    fill_login(page, "dr.alice", PASSWORD)

    # First sign-in: the role requires a second factor, so enrolment comes first.
    assert page.url.endswith("/accounts/mfa/enroll/")
    assert page.locator(".qr svg").is_visible()
    screenshot(page, "mfa_enrol")
    secret = page.inner_text("[data-testid=totp-secret]").strip()
    page.fill("#id_token", "000000" if totp_now(secret) != "000000" else "111111")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("That code did not match")
    time.sleep(1.1)  # django-otp's back-off after one wrong code is one second
    page.fill("#id_token", totp_now(secret))
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=recovery-codes]")
    assert page.locator("[data-testid=recovery-codes] li").count() == 10
    screenshot(page, "recovery_codes")
    page.click("text=I have saved them, continue")
    expect(page.locator("main h1")).to_have_text("Good day, Alice")

    sign_out(page)
    fill_login(page, "dr.alice", PASSWORD)
    assert "/accounts/mfa/verify/" in page.url
    page.fill("#id_token", "000000" if totp_now(secret) != "000000" else "111111")
    page.click("button[type=submit]")
    assert "That code is not valid" in page.get_by_role("alert").inner_text()
    screenshot(page, "mfa_verify_wrong_code")
    time.sleep(1.1)
    # The enrolment code's 30 s step is spent (django-otp refuses reuse): the next step's code is within the
    # device's tolerance of one step and has not been used.
    page.fill("#id_token", totp_now(secret, at=time.time() + 30))
    page.click("button[type=submit]")
    expect(page.locator("main h1")).to_have_text("Good day, Alice")
    assert TOTPDevice.objects.get(user=clinician, confirmed=True)


def test_user_menu_works_from_the_keyboard(page, nurse):
    browser_login(page, nurse)

    page.focus(".usermenu summary")
    page.keyboard.press("Enter")
    assert page.locator(".usermenu").get_attribute("open") is not None
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Security & MFA"
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/security/")


def test_idle_timeout_signs_out(page, nurse):
    with override_settings(SESSION_IDLE_TIMEOUT=2):
        browser_login(page, nurse)
        expect(page.locator("main h1")).to_have_text("Good day, Nina")

        time.sleep(3)
        page.goto("/patients/")

        assert "/accounts/login/" in page.url
        assert "signed out after a period of inactivity" in page.locator(".messages").inner_text()
        screenshot(page, "login_after_idle_timeout")


def test_lockout_after_five_wrong_passwords_refuses_the_right_one_too(page, nurse):
    for attempt in range(4):
        fill_login(page, "nurse.nina", f"wrong-{attempt}")
        assert "did not match" in page.get_by_role("alert").inner_text()

    fill_login(page, "nurse.nina", "wrong-5")
    assert LOCKOUT_MESSAGE in page.locator("main").inner_text()
    fill_login(page, "nurse.nina", PASSWORD)

    assert LOCKOUT_MESSAGE in page.locator("main").inner_text()
    assert "/accounts/login/" in page.url
    screenshot(page, "login_locked")


@pytest.mark.parametrize("persona", ["clinician", "nurse", "front_desk", "admin_user", "privacy"])
def test_home_page_for_each_role(page, persona, request, patient):
    user = request.getfixturevalue(persona)

    secret = browser_login(page, user)

    expect(page.locator("main h1")).to_contain_text("Good day")
    if persona in ("clinician", "admin_user", "privacy"):
        assert secret and base64.b32decode(secret + "=" * (-len(secret) % 8))
    screenshot(page, f"home_{persona}")


def test_home_work_lists_use_the_width_of_a_wide_screen(page, clinician, patient):
    page.set_viewport_size({"width": 1400, "height": 900})
    browser_login(page, clinician)

    grid = page.locator(".home-panels").bounding_box()
    boxes = [p.bounding_box() for p in page.locator(".home-panels > .panel").all()]
    screenshot(page, "home_wide_clinician")

    first_row = [b for b in boxes if abs(b["y"] - boxes[0]["y"]) < 1]
    assert len(first_row) >= 2  # side by side
    assert sum(b["width"] for b in first_row) > 0.9 * grid["width"]  # the row uses the width
    assert all(boxes[0]["width"] > b["width"] for b in first_row[1:])  # the day's patients get the room


def test_home_work_lists_stack_on_a_phone(page, clinician, patient):
    page.set_viewport_size({"width": 390, "height": 800})
    browser_login(page, clinician)

    first, second = (page.locator(".home-panels > .panel").nth(i).bounding_box() for i in range(2))

    assert second["y"] > first["y"] + first["height"] - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling


def test_the_patient_banner_stays_under_the_top_bar_while_the_chart_scrolls(page, front_desk, patient):
    browser_login(page, front_desk)

    for width in (901, 1000, 1366, 700):
        page.set_viewport_size({"width": width, "height": 360})
        page.goto(f"/patients/{patient.pk}/")
        page.mouse.wheel(0, 2000)
        # Polled from here: wait_for_function's predicate runs through eval, which the strict CSP refuses.
        deadline = time.monotonic() + 10
        while page.evaluate("window.scrollY") <= 100:
            assert time.monotonic() < deadline, "the chart did not scroll"
            page.wait_for_timeout(50)
        bar = page.locator(".topbar").bounding_box()
        banner = page.locator("[data-testid=patient-banner]").bounding_box()
        if width == 901:
            screenshot(page, "chart_scrolled_901")
        # Below 900px the bar scrolls away and the banner sticks at the very top.
        expected_top = bar["y"] + bar["height"] if width > 900 else 0
        assert abs(banner["y"] - expected_top) <= 1, (width, bar, banner)
