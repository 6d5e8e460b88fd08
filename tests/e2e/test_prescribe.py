"""Prescribing in a real browser, with a real Celery worker and the pharmacy simulator: a high-severity
interaction overridden with a reason, re-authentication at signing, the status reaching "Delivered"; a controlled
substance asks for the authenticator code."""

import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.conftest import screenshot, totp_now, wait_until
from tests.factories import PASSWORD
from tests.prescriptions import conftest as rx_fixtures
from tests.prescriptions.conftest import give_address

# The prescriptions fixtures (tiny catalog, pharmacies, the simulator subprocess), shared with this browser test.
catalog = rx_fixtures.catalog
pharmacies = rx_fixtures.pharmacies
simulator = rx_fixtures.simulator
simulator_proc = rx_fixtures.simulator_proc

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _login(page, user) -> str:
    """Sign in and enrol TOTP; returns the secret. (Scoped to <main>: the header's hidden Sign-out button is also
    a submit button once the user is half signed in.)"""
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/mfa/enroll/")
    secret = page.inner_text("[data-testid=totp-secret]").strip()
    page.fill("#id_token", totp_now(secret))
    page.click("main button[type=submit]")
    page.wait_for_selector("[data-testid=recovery-codes]")
    page.click("text=I have saved them, continue")
    page.wait_for_load_state()
    return secret


def _write(page, patient, query, testid, quantity="30"):
    page.goto(reverse("patients:detail", args=[patient.pk]))
    page.click("[data-testid=prescribe-link]")
    page.fill("#med-q", query)
    page.locator(f"[data-testid={testid}]").check()
    page.fill("#id_quantity", quantity)
    page.select_option("#id_frequency", "QD")
    page.select_option("#id_pharmacy", label="Simulated Pharmacy (Springfield)")
    page.click("[data-testid=review-button]")
    page.wait_for_url("**/sign/")


def test_prescribe_override_sign_delivered_and_controlled_totp(
    transactional_db,
    page,
    clinician,
    patient,
    celery_worker_proc,
    catalog,
    pharmacies,
    simulator,
):
    from encounters.models import MedicationStatement

    give_address(patient)
    MedicationStatement.objects.create(
        patient=patient, name="Ibuprofen 600 MG Oral Tablet", rxcui="197806", status="active"
    )
    secret = _login(page, clinician)
    _write(page, patient, "warfarin", "med-855332")
    alert = page.locator("[data-testid=alert-high]")
    expect(alert).to_contain_text("warfarin + ibuprofen")
    screenshot(page, "rx_high_alert")

    page.fill("#id_password", PASSWORD)
    page.click(
        "[data-testid=sign-button]"
    )  # no override reason yet: the form refuses (the service would too)
    expect(page.locator("#override_0:invalid")).to_have_count(1)
    assert page.url.endswith("/sign/")
    page.fill("#override_0", "INR checked weekly; ibuprofen to stop")
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=sign-button]")
    page.wait_for_url("**/rx/*/")
    expect(page.locator("[data-testid=rx-status]")).to_have_text("Delivered", timeout=30000)
    expect(page.locator("main")).to_contain_text("INR checked weekly")
    screenshot(page, "rx_delivered")
    stats = simulator.stats()
    assert stats["unique_received"] == 1 and stats["duplicate_deliveries"] == 0

    # A controlled substance (oxycodone, Schedule II) also asks for the authenticator code. Same test on purpose:
    # the session's worker caches content type ids, which a transactional_db flush between tests would renumber.
    _write(page, patient, "oxycodone", "med-1049621", quantity="12")
    expect(page.locator("#id_totp_code")).to_be_visible()
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=sign-button]")
    expect(page.locator(".has-error")).to_contain_text("authenticator")
    screenshot(page, "rx_controlled_totp")
    page.fill("#id_password", PASSWORD)
    # The sign-in used the current code; django-otp accepts the next step's code (tolerance 1), never a reused one.
    page.fill("#id_totp_code", totp_now(secret, at=time.time() + 30))
    page.click("[data-testid=sign-button]")
    page.wait_for_url("**/rx/*/")
    expect(page.locator("[data-testid=rx-status]")).to_have_text("Delivered", timeout=30000)
    screenshot(page, "rx_controlled_delivered")
    assert simulator.stats()["unique_received"] == 2


def test_preferred_pharmacy_from_chart_and_change_request_approved_in_the_inbox(
    transactional_db,
    page,
    client,
    clinician,
    patient,
    celery_worker_proc,
    catalog,
    pharmacies,
    simulator,
):
    """The chart's pharmacy card opens the directory search; a pharmacy's change request is reviewed in the inbox,
    the alerts of the drug picked are shown and overridden, and approving signs a new prescription whose
    RxChangeResponse reaches the pharmacy with that drug."""
    from encounters.models import MedicationStatement
    from prescriptions import ncpdp
    from prescriptions.models import OutboundMessage, Prescription
    from tests.prescriptions.conftest import post_inbound, signed_rx
    from tests.prescriptions.test_inbox import change_xml

    give_address(patient)
    _login(page, clinician)
    page.goto(reverse("patients:detail", args=[patient.pk]))
    page.click("[data-testid=change-pharmacy]")
    page.fill("#ph-q", "corner")
    page.click("main form[role=search] button[type=submit]")
    page.click("[data-testid=choose-7654321]")
    expect(page.locator("[data-testid=preferred-pharmacy]")).to_contain_text("Corner Drugstore")
    screenshot(page, "rx_preferred_pharmacy")

    rx = signed_rx(clinician, patient, catalog["314076"], pharmacies["electronic"])
    # The running worker sends the NewRx (sending it from here too would race it: "busy").
    deadline = time.monotonic() + 30
    while (
        OutboundMessage.objects.get(prescription=rx).status != "acknowledged" and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert OutboundMessage.objects.get(prescription=rx).status == "acknowledged"
    MedicationStatement.objects.create(
        patient=patient, name="Ibuprofen 600 MG Oral Tablet", rxcui="197806", status="active"
    )
    body = change_xml(
        rx,
        [
            {"drug_description": "Enalapril 10 MG Oral Tablet", "rxnorm_code": "858813"},
            {
                "drug_description": "Warfarin Sodium 5 MG Oral Tablet",
                "rxnorm_code": "855332",
                "quantity": "30",
            },
        ],
    )
    assert post_inbound(client, body).status_code == 200

    page.goto(reverse("prescriptions:inbox"))
    page.click("[data-testid=inbox-item] a.button")
    expect(page.locator("[data-testid=option-0]")).to_be_disabled()  # not in the catalog here
    page.click("text=check this one")
    expect(page.locator("[data-testid=option-1]")).to_be_checked()
    expect(page.locator("[data-testid=alert-high]")).to_contain_text("warfarin + ibuprofen")
    page.fill("#override_0", "ibuprofen stopped")
    page.fill("#id_password", PASSWORD)
    screenshot(page, "rx_change_request")
    page.click("[data-testid=approve-button]")
    page.wait_for_url("**/rx/inbox/")
    new = Prescription.objects.get(replaces=rx)
    assert new.medication.rxcui == "855332"
    wait_until(lambda: Prescription.objects.get(pk=new.pk).status == "delivered", timeout=30)
    [seen] = [m for m in simulator.stats()["messages"] if m["message_type"] == ncpdp.RX_CHANGE_RESPONSE]
    assert seen["drug_description"] == "Warfarin Sodium 5 MG Oral Tablet"
