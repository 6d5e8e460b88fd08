"""Prescribing follows the product (issue 17 item 1) and the printed prescription (item 8).

The search ranks plain generic oral products first; the directions default from the product's dose form; directions
that contradict the product are refused (service, signing and database); the maximum daily dose warns before
signing; the NewRx carries the structured sig; the printed prescription carries what a pharmacist checks.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from lxml import etree

from prescriptions import (
    checks,
    mapping,
    ncpdp_build,
    ncpdp_parse,
    ncpdp_validate,
    printing,
    selectors,
    services,
    sig_rules,
    signature,
)
from prescriptions.models import OutboundMessage, Prescription
from tests.factories import PASSWORD
from tests.prescriptions.conftest import give_address, rx_data

INJECTION, TABLET_400, SUSPENSION, COMBINATION, PACK, BRAND_400 = (
    "637197",
    "197805",
    "197803",
    "858770",
    "851210",
    "206905",
)


# ------------------------------------------------------------------ ranking
def test_ibuprofen_search_puts_a_generic_oral_tablet_first(catalog):
    rows = selectors.medication_search(q="ibuprofen")
    names = [m.rxcui for m in rows]
    assert rows[0].tty == "SCD" and rows[0].dose_form == "Oral Tablet" and " / " not in rows[0].name
    # generic tablets, then the brand tablet, then other oral forms, then the injection; combinations and packs last
    assert names.index(TABLET_400) < names.index(BRAND_400) < names.index(INJECTION)
    assert names.index(SUSPENSION) < names.index(INJECTION)
    assert names[-2:] == [COMBINATION, PACK] or set(names[-2:]) == {COMBINATION, PACK}


def test_search_prefers_what_the_clinic_prescribes(clinician, patient, catalog):
    before = [m.rxcui for m in selectors.medication_search(q="ibuprofen")]
    assert before[0] == TABLET_400 and "197806" in before  # 400 mg before 600 mg by name
    for _ in range(2):
        services.prescription_create(actor=clinician, patient_id=patient.pk, data=rx_data(catalog["197806"]))
    after = [m.rxcui for m in selectors.medication_search(q="ibuprofen")]
    assert after[0] == "197806" and after[1] == TABLET_400


def test_search_results_show_the_dose_form_and_carry_defaults(login, clinician, catalog):
    r = login(clinician).get(reverse("prescriptions:medication_search"), {"q": "ibuprofen"})
    html = r.content.decode()
    assert 'data-testid="dose-form">Injection<' in html
    assert 'data-testid="dose-form">Oral Tablet<' in html
    assert 'data-default-doseunit="mL" data-default-route="IV" data-default-quantityunit="C28254"' in html


def test_search_query_count_does_not_grow_with_usage(
    clinician, patient, catalog, django_assert_max_num_queries
):
    give_address(patient)
    services.prescription_create(actor=clinician, patient_id=patient.pk, data=rx_data(catalog[TABLET_400]))
    with django_assert_max_num_queries(1):
        selectors.medication_search(q="ibuprofen")


# ------------------------------------------------------------------ defaults and mismatches
@pytest.mark.parametrize(
    "rxcui, expected",
    [
        (TABLET_400, {"dose_unit": "tablet", "route": "PO", "quantity_unit": "C48542"}),
        ("308182", {"dose_unit": "capsule", "route": "PO", "quantity_unit": "C48480"}),
        (INJECTION, {"dose_unit": "mL", "route": "IV", "quantity_unit": "C28254"}),
        (SUSPENSION, {"dose_unit": "mL", "route": "PO", "quantity_unit": "C28254"}),
        (PACK, {}),
    ],
)
def test_defaults_follow_the_dose_form(catalog, rxcui, expected):
    assert catalog[rxcui].sig_defaults == expected


def test_inhaler_defaults_to_puffs():
    rule = sig_rules.form_rule("Metered Dose Inhaler")
    assert (rule.dose_units[0], rule.routes[0]) == ("puff", "INH")


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("route", "PO", "by mouth"),
        ("dose_unit", "tablet", "not tablet"),
        ("quantity_unit", "C48542", "not by tablet"),
    ],
)
def test_injection_with_tablet_directions_is_refused(clinician, patient, catalog, field, value, words):
    data = rx_data(catalog[INJECTION])  # the injection's own defaults ...
    data[field] = value  # ... with one part of the issue's tablet directions
    if field == "route":
        data["dose_unit"] = "mL"
    with pytest.raises(ValidationError) as exc:
        services.prescription_create(actor=clinician, patient_id=patient.pk, data=data)
    assert words in " ".join(exc.value.message_dict[field])
    assert not Prescription.objects.exists()


def test_the_issues_prescription_is_refused_on_every_count(clinician, patient, catalog):
    data = rx_data(catalog[INJECTION], dose_unit="tablet", route="PO", quantity_unit="C48542", frequency="QD")
    with pytest.raises(ValidationError) as exc:
        services.prescription_create(actor=clinician, patient_id=patient.pk, data=data)
    assert set(exc.value.message_dict) == {"route", "dose_unit", "quantity_unit"}


def test_a_mismatched_draft_cannot_be_signed(clinician, patient, catalog, pharmacies):
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog[INJECTION], pharmacy=pharmacies["fax"])
    )
    # A draft written before this check existed (or changed behind the service's back).
    Prescription.objects.filter(pk=rx.pk).update(route="SC", dose_unit="mL", quantity_unit="C48542")
    with pytest.raises(ValidationError, match="cannot be signed"):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    rx.refresh_from_db()
    assert rx.status == "draft" and rx.signed_at is None


def test_sign_page_shows_the_mismatch_and_disables_signing(login, clinician, patient, catalog, pharmacies):
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog[INJECTION], pharmacy=pharmacies["fax"])
    )
    Prescription.objects.filter(pk=rx.pk).update(quantity_unit="C48542")
    html = login(clinician).get(reverse("prescriptions:sign", args=[rx.pk])).content.decode()
    assert 'data-testid="sig-mismatch"' in html and "cannot be signed" in html
    assert "disabled" in html.split('data-testid="sign-button"')[1].split(">")[0]


def test_database_refuses_a_tablet_by_injection(clinician, patient, catalog):
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog[TABLET_400])
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Prescription.objects.filter(pk=rx.pk).update(route="IM")


# ------------------------------------------------------------------ maximum daily dose
def test_max_daily_dose_warns_before_signing(clinician, patient, catalog, pharmacies):
    # 800 mg... here 2 x 400 mg four times a day = 3200 mg: at the maximum, no warning
    ok = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog[TABLET_400], dose=2, frequency="QID")
    )
    assert not [a for a in checks.prescription_check(patient=patient, medication=ok.medication, rx=ok)]
    # 3 x 400 mg every 4 hours = 7200 mg a day
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(catalog[TABLET_400], dose=3, frequency="Q4H", pharmacy=pharmacies["fax"]),
    )
    alerts = checks.prescription_check(patient=patient, medication=rx.medication, rx=rx)
    dose = [a for a in alerts if a.source == "max-daily-dose"]
    assert len(dose) == 1 and dose[0].severity == "high"
    assert dose[0].message == (
        "Above the maximum daily dose: 7200 mg of ibuprofen a day; the adult maximum is 3200 mg a day."
    )
    assert "FDA label" in dose[0].source_text and dose[0].url.startswith("https://dailymed.nlm.nih.gov/")
    with pytest.raises(signature.AlertsNeedOverride):
        signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    signature.prescription_sign(
        actor=clinician,
        prescription_id=rx.pk,
        password=PASSWORD,
        override_reasons={dose[0].key: "short course, supervised"},
    )
    rx.refresh_from_db()
    assert rx.override_reasons[0]["reason"] == "short course, supervised"


def test_max_daily_dose_for_a_liquid_counts_mg_per_ml(catalog):
    rx = Prescription(medication=catalog[SUSPENSION], dose=Decimal(50), dose_unit="mL", frequency="QID")
    ingredients = list(catalog[SUSPENSION].ingredients.all())
    alert = checks.dose_alert(medication=rx.medication, ingredients=ingredients, rx=rx)
    assert alert is not None and "4000 mg of ibuprofen" in alert.message


def test_combination_products_are_not_dose_checked(catalog):
    med = catalog[COMBINATION]
    rx = Prescription(medication=med, dose=Decimal(20), dose_unit="tablet", frequency="QID")
    assert checks.dose_alert(medication=med, ingredients=list(med.ingredients.all()), rx=rx) is None


def test_alert_sentences_carry_no_source_codes(login, clinician, patient, catalog, pharmacies):
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(catalog[TABLET_400], dose=3, frequency="Q4H", pharmacy=pharmacies["fax"]),
    )
    html = login(clinician).get(reverse("prescriptions:sign", args=[rx.pk])).content.decode()
    strong = html.split('data-testid="alert-high"><strong>')[1].split("</strong>")[0]
    assert "max-daily-dose" not in strong and "FDA" not in strong
    assert "<details" in html and "<summary>Source</summary>" in html and "FDA label" in html


# ------------------------------------------------------------------ NCPDP structured sig
def test_new_rx_carries_the_structured_sig(clinician, patient, catalog, pharmacies):
    give_address(patient)
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(
            catalog[TABLET_400],
            frequency="Q6H",
            duration_days=5,
            as_needed=True,
            as_needed_reason="pain",
            pharmacy=pharmacies["electronic"],
        ),
    )
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    xml = bytes(OutboundMessage.objects.get(prescription=rx).payload)
    assert ncpdp_validate.validate_new_rx(xml) == []
    fields = ncpdp_parse.parse_message(xml).fields
    assert fields["sig_text"] == "Take 1 tablet by mouth every 6 hours as needed for pain for 5 days"
    assert fields["sig"]["dose_unit_code"] == "C48542" and fields["sig"]["route_code"] == "26643006"
    assert (fields["sig"]["interval"], fields["sig"]["duration_days"]) == ("6", "5")
    assert fields["sig"]["clarifying_text"] == "as needed for pain"


def test_structured_sig_of_an_injection_codes_the_vein(clinician, patient, catalog, pharmacies):
    give_address(patient)
    rx = services.prescription_create(
        actor=clinician,
        patient_id=patient.pk,
        data=rx_data(catalog[INJECTION], pharmacy=pharmacies["electronic"]),
    )
    sig = mapping.sig_data(rx)
    assert (sig.route_code, sig.dose_unit_code, sig.verb_text) == ("47625008", "C28254", "Inject")
    rx = Prescription.objects.select_related("patient", "prescriber", "medication", "pharmacy").get(pk=rx.pk)
    xml = ncpdp_build.build_new_rx(mapping.new_rx_data(rx, "M-1"))
    route = etree.fromstring(xml).findtext(
        "Body/NewRx/MedicationPrescribed/Sig/Instruction/DoseAdministration/RouteOfAdministration/Text"
    )
    assert route == "intravenous route"


# ------------------------------------------------------------------ the printed prescription
def test_printed_prescription_carries_what_a_pharmacist_checks(
    login, clinician, patient, catalog, pharmacies
):
    give_address(patient)
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog[TABLET_400], pharmacy=pharmacies["fax"])
    )
    signature.prescription_sign(actor=clinician, prescription_id=rx.pk, password=PASSWORD)
    rx.refresh_from_db()
    html = login(clinician).get(reverse("prescriptions:print", args=[rx.pk])).content.decode()
    p = printing.printed_rx(rx)
    assert p["practice_name"] in html and "100 Clinic Way" in html and "(217) 555-0100" in html
    assert f"NPI {clinician.practitioner.npi}" in html
    assert "DEA" not in html  # not a controlled drug
    assert "12 Elm St" in html and "Springfield, IL 62701" in html
    assert p["number"].startswith("RX-") and len(p["number"]) == len("RX-250101-ABC123")
    assert f"Prescription {p['number']}" in html
    assert 'class="button primary" data-testid="pdf-link"' in html
    pdf = printing.prescription_pdf(rx)
    assert pdf.startswith(b"%PDF")


def test_printed_controlled_prescription_shows_the_dea_number(clinician, patient, catalog):
    rx = services.prescription_create(
        actor=clinician, patient_id=patient.pk, data=rx_data(catalog["1049621"])
    )
    p = printing.printed_rx(rx)
    assert p["dea"] == clinician.practitioner.dea_number and p["dea"]
    assert p["schedule"] == "II"
