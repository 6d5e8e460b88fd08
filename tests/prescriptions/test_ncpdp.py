"""prescriptions.ncpdp: every builder round-trips through parse_message; validation and the hardened parser.

Pure: no database, no Django.
"""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from prescriptions import ncpdp, ncpdp_build, ncpdp_parse, ncpdp_validate
from prescriptions.ncpdp import (
    AddressData,
    CancelRxResponseData,
    MedicationData,
    MessageHeader,
    NcpdpError,
    NewRxData,
    PatientData,
    PharmacyData,
    PrescriberData,
    RxChangeRequestData,
    RxChangeResponseData,
    RxRenewalRequestData,
    RxRenewalResponseData,
)

PHARMACY_ID = "1234567"
PRESCRIBER_SPI = "6301875277001"
ADDRESS = AddressData(line1="12 Elm St", city="Springfield", state="IL", postal_code="62701")
PATIENT = PatientData(
    last_name="Quinn", first_name="Harper", gender="F", birth_date=date(1984, 3, 9), address=ADDRESS
)
PHARMACY = PharmacyData(
    ncpdp_id=PHARMACY_ID,
    npi="1234567893",
    name="Elm Street Pharmacy",
    phone="(217) 555-0100",
    address=ADDRESS,
)
PRESCRIBER = PrescriberData(
    npi="1245319599",
    last_name="Able",
    first_name="Alice",
    address=ADDRESS,
    phone="217-555-0199",
    dea_number="AA1234563",
)
LISINOPRIL = MedicationData(
    description="Lisinopril 10 MG Oral Tablet",
    quantity=Decimal("30"),
    quantity_unit="C48542",
    written_date=date(2025, 5, 1),
    sig_text="Take 1 tablet by mouth once daily",
    refills=3,
    days_supply=30,
    rxnorm_code="314076",
    ndc="00093111301",
    diagnosis_code="I10",
    diagnosis_description="Essential (primary) hypertension",
    note="Patient prefers blister packs",
)


def header(**overrides) -> MessageHeader:
    values = {
        "to_id": PHARMACY_ID,
        "from_id": PRESCRIBER_SPI,
        "message_id": ncpdp.new_message_id(),
        "prescriber_order_number": "ORD-1001",
        "sent_time": datetime(2025, 5, 1, 14, 30, tzinfo=UTC),
    }
    return MessageHeader(**(values | overrides))


def pharmacy_header(**overrides) -> MessageHeader:
    """A header the pharmacy writes to the prescriber."""
    return header(
        to_id=PRESCRIBER_SPI,
        to_qualifier="D",
        from_id=PHARMACY_ID,
        from_qualifier="P",
        rx_reference_number="RX-77",
        **overrides,
    )


def new_rx(medication: MedicationData = LISINOPRIL, **header_overrides) -> NewRxData:
    return NewRxData(header(**header_overrides), PATIENT, PHARMACY, PRESCRIBER, medication)


def mutate(xml: bytes, path: str, text: str | None) -> bytes:
    """Set (or, with None, remove) the element at ``path`` below Message."""
    root = etree.fromstring(xml)
    node = root.find(path)
    if text is None:
        node.getparent().remove(node)
    else:
        node.text = text
    return etree.tostring(root)


# ------------------------------------------------------------------ round trips


def test_new_rx_round_trip():
    data = new_rx()
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_new_rx(data))

    assert parsed.message_type == "NewRx"
    assert parsed.message_id == data.header.message_id
    assert parsed.relates_to_message_id == ""
    assert (parsed.to_id, parsed.to_qualifier) == (PHARMACY_ID, "P")
    assert (parsed.from_id, parsed.from_qualifier) == (PRESCRIBER_SPI, "D")
    assert parsed.prescriber_order_number == "ORD-1001"
    assert parsed.sent_time == "2025-05-01T14:30:00.000Z"
    assert parsed.fields | {} == parsed.fields  # a plain dict
    assert parsed.fields["patient_last_name"] == "Quinn"
    assert parsed.fields["patient_gender"] == "F"
    assert parsed.fields["patient_birth_date"] == "1984-03-09"
    assert parsed.fields["pharmacy_ncpdp_id"] == PHARMACY_ID
    assert parsed.fields["prescriber_npi"] == "1245319599"
    assert parsed.fields["prescriber_dea"] == "AA1234563"
    assert parsed.fields["drug_description"] == "Lisinopril 10 MG Oral Tablet"
    assert parsed.fields["rxnorm_code"] == "314076"
    assert parsed.fields["ndc"] == "00093111301"
    assert parsed.fields["quantity"] == "30"
    assert parsed.fields["quantity_qualifier"] == "38"
    assert parsed.fields["quantity_unit"] == "C48542"
    assert parsed.fields["days_supply"] == "30"
    assert parsed.fields["refills"] == "3"
    assert parsed.fields["substitutions"] == "0"
    assert parsed.fields["sig_text"] == "Take 1 tablet by mouth once daily"
    assert parsed.fields["diagnosis_code"] == "I10"
    assert parsed.fields["written_date"] == "2025-05-01"
    assert parsed.fields["note"] == "Patient prefers blister packs"
    assert parsed.fields["dea_schedule"] == ncpdp.DEA_SCHEDULE_NONE


def test_new_rx_is_valid_and_shaped_per_reference():
    xml = ncpdp_build.build_new_rx(new_rx())
    assert ncpdp_validate.validate_new_rx(xml) == []

    root = etree.fromstring(xml)
    assert root.tag == "Message"  # §1: no namespace
    assert root.get("TransactionDomain") == "SCRIPT"
    assert root.get("ECLVersion") == "20170715"
    assert [child.tag for child in root.find("Header")] == [
        "To",
        "From",
        "MessageID",
        "SentTime",
        "SenderSoftware",
        "PrescriberOrderNumber",
    ]
    med = root.find("Body/NewRx/MedicationPrescribed")
    assert [child.tag for child in med] == [
        "DrugDescription",
        "DrugCoded",
        "Quantity",
        "DaysSupply",
        "WrittenDate",
        "Substitutions",
        "NumberOfRefills",
        "Diagnosis",
        "Note",
        "Sig",
    ]
    assert med.findtext("DrugCoded/DrugDBCode/Qualifier") == "SCD"
    assert med.findtext("Diagnosis/Primary/Qualifier") == "ABF"
    # §2: telephone numbers are digits only.
    assert root.findtext("Body/NewRx/Pharmacy/CommunicationNumbers/PrimaryTelephone/Number") == "2175550100"


def test_controlled_new_rx_carries_the_schedule():
    oxycodone = replace(
        LISINOPRIL, description="Oxycodone 5 MG Oral Tablet", dea_schedule=ncpdp.DEA_SCHEDULE_II, refills=0
    )
    xml = ncpdp_build.build_new_rx(new_rx(oxycodone))
    assert ncpdp_validate.validate_new_rx(xml) == []
    assert ncpdp_parse.parse_message(xml).fields["dea_schedule"] == "C48675"


def test_decimal_quantity_is_written_plainly():
    xml = ncpdp_build.build_new_rx(
        new_rx(replace(LISINOPRIL, quantity=Decimal("1.5E+1"), quantity_unit="C28254"))
    )
    assert ncpdp_parse.parse_message(xml).fields["quantity"] == "15"
    xml = ncpdp_build.build_new_rx(
        new_rx(replace(LISINOPRIL, quantity=Decimal("2.50"), quantity_unit="C28254"))
    )
    assert ncpdp_parse.parse_message(xml).fields["quantity"] == "2.5"


def test_cancel_rx_round_trip():
    original = new_rx()
    xml = ncpdp_build.build_cancel_rx(
        original, message_id="cancel-1", relates_to_message_id=original.header.message_id
    )
    parsed = ncpdp_parse.parse_message(xml)

    assert parsed.message_type == "CancelRx"
    assert parsed.message_id == "cancel-1"
    assert parsed.relates_to_message_id == original.header.message_id
    assert parsed.prescriber_order_number == "ORD-1001"
    assert parsed.fields["drug_description"] == LISINOPRIL.description
    assert parsed.fields["refills"] == "3"


def test_cancel_rx_needs_the_new_rx_message_id():
    with pytest.raises(ValueError, match="relate"):
        ncpdp_build.build_cancel_rx(new_rx(), message_id="cancel-1", relates_to_message_id="")


def test_rx_renewal_request_round_trip():
    dispensed = replace(LISINOPRIL, refills=5, note="Patient out of refills, please renew")
    data = RxRenewalRequestData(
        header=pharmacy_header(message_id="renew-1", relates_to_message_id="newrx-1"),
        patient=PATIENT,
        pharmacy=PHARMACY,
        prescriber=PRESCRIBER,
        dispensed=dispensed,
        prescribed=LISINOPRIL,
    )
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_rx_renewal_request(data))

    assert parsed.message_type == "RxRenewalRequest"
    assert parsed.relates_to_message_id == "newrx-1"
    assert (parsed.from_id, parsed.from_qualifier) == (PHARMACY_ID, "P")
    assert parsed.rx_reference_number == "RX-77"
    assert parsed.fields["drug_description"] == LISINOPRIL.description
    assert parsed.fields["quantity"] == "30"
    assert parsed.fields["refills"] == "5"
    assert parsed.fields["note"] == "Patient out of refills, please renew"
    assert parsed.fields["prescribed"]["refills"] == "3"


def test_rx_renewal_request_needs_the_pharmacy_address():
    data = RxRenewalRequestData(
        pharmacy_header(), PATIENT, replace(PHARMACY, address=None), PRESCRIBER, LISINOPRIL
    )
    with pytest.raises(ValueError, match="address"):
        ncpdp_build.build_rx_renewal_request(data)


@pytest.mark.parametrize(
    ("outcome", "reason_codes", "element"),
    [
        ("approved", (), "Approved"),
        ("approved_with_changes", (), "ApprovedWithChanges"),
        ("replace", (), "Replace"),
        ("denied", ("AM",), "Denied"),
    ],
)
def test_rx_renewal_response_round_trip(outcome, reason_codes, element):
    data = RxRenewalResponseData(
        header=header(to_id=PHARMACY_ID, relates_to_message_id="renew-1", rx_reference_number="RX-77"),
        outcome=outcome,
        patient=PATIENT,
        pharmacy=PHARMACY,
        prescriber=PRESCRIBER,
        medication=replace(LISINOPRIL, refills=2),
        reason_codes=reason_codes,
        denial_reason="Needs a blood pressure check first" if reason_codes else "",
        note="" if reason_codes else "Renewed",
    )
    xml = ncpdp_build.build_rx_renewal_response(data)
    parsed = ncpdp_parse.parse_message(xml)

    assert etree.fromstring(xml).find(f"Body/RxRenewalResponse/Response/{element}") is not None
    assert parsed.message_type == "RxRenewalResponse"
    assert parsed.relates_to_message_id == "renew-1"
    assert parsed.fields["outcome"] == outcome
    assert parsed.fields["reason_codes"] == list(reason_codes)
    assert parsed.fields["refills"] == "2"
    if reason_codes:
        assert parsed.fields["denial_reason"] == "Needs a blood pressure check first"
    else:
        assert parsed.fields["response_note"] == "Renewed"


def test_rx_renewal_denial_needs_a_known_reason():
    data = RxRenewalResponseData(
        header(relates_to_message_id="renew-1"), "denied", PATIENT, PHARMACY, PRESCRIBER, LISINOPRIL
    )
    with pytest.raises(ValueError, match="reason"):
        ncpdp_build.build_rx_renewal_response(data)
    with pytest.raises(ValueError, match="ZZ"):
        ncpdp_build.build_rx_renewal_response(replace(data, reason_codes=("ZZ",)))


def test_rx_change_request_round_trip():
    generic = replace(
        LISINOPRIL, description="Lisinopril 10 MG Oral Tablet (generic)", ndc="", note="Generic?"
    )
    alternative = replace(LISINOPRIL, description="Enalapril 10 MG Oral Tablet", rxnorm_code="858817")
    data = RxChangeRequestData(
        header=pharmacy_header(message_id="change-1"),
        request_code="G",
        patient=PATIENT,
        pharmacy=PHARMACY,
        prescriber=PRESCRIBER,
        prescribed=LISINOPRIL,
        requested=(generic, alternative),
    )
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_rx_change_request(data))

    assert parsed.message_type == "RxChangeRequest"
    assert parsed.fields["request_code"] == "G"
    assert parsed.fields["request_subcodes"] == []
    assert parsed.fields["drug_description"] == generic.description
    assert parsed.fields["note"] == "Generic?"
    assert parsed.fields["refills"] == "3"
    assert [option["rxnorm_code"] for option in parsed.fields["requested"]] == ["314076", "858817"]
    assert parsed.fields["prescribed"]["ndc"] == "00093111301"


def test_rx_change_request_with_prescriber_authorization_subcodes():
    data = RxChangeRequestData(
        pharmacy_header(), "U", PATIENT, PHARMACY, PRESCRIBER, LISINOPRIL, request_subcodes=("A", "B")
    )
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_rx_change_request(data))
    assert parsed.fields["request_code"] == "U"
    assert parsed.fields["request_subcodes"] == ["A", "B"]
    # No MedicationRequested: the flat fields describe the prescribed drug.
    assert parsed.fields["drug_description"] == LISINOPRIL.description


@pytest.mark.parametrize(
    ("outcome", "request_code", "reason_codes"),
    [
        ("approved", "G", ()),
        ("approved_with_changes", "T", ()),
        ("denied", "G", ("AL",)),
        ("validated", "U", ("GM",)),
    ],
)
def test_rx_change_response_round_trip(outcome, request_code, reason_codes):
    data = RxChangeResponseData(
        header=header(relates_to_message_id="change-1"),
        outcome=outcome,
        patient=PATIENT,
        pharmacy=PHARMACY,
        prescriber=PRESCRIBER,
        medication=LISINOPRIL,
        reason_codes=reason_codes,
        request_code=request_code,
    )
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_rx_change_response(data))

    assert parsed.message_type == "RxChangeResponse"
    assert parsed.relates_to_message_id == "change-1"
    assert parsed.fields["outcome"] == outcome
    assert parsed.fields["request_code"] == request_code
    assert parsed.fields["reason_codes"] == list(reason_codes)
    assert parsed.fields["rxnorm_code"] == "314076"


def test_validated_change_response_only_for_prescriber_authorization():
    data = RxChangeResponseData(
        header(relates_to_message_id="change-1"),
        "validated",
        PATIENT,
        PHARMACY,
        PRESCRIBER,
        LISINOPRIL,
        request_code="G",
    )
    with pytest.raises(ValueError, match="validated"):
        ncpdp_build.build_rx_change_response(data)


@pytest.mark.parametrize(("approved", "reason_codes"), [(True, ()), (False, ("AR",))])
def test_cancel_rx_response_round_trip(approved, reason_codes):
    data = CancelRxResponseData(
        header=pharmacy_header(relates_to_message_id="cancel-1"),
        approved=approved,
        patient=PATIENT,
        pharmacy=PHARMACY,
        prescriber=PRESCRIBER,
        medication=LISINOPRIL,
        reason_codes=reason_codes,
    )
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_cancel_rx_response(data))

    assert parsed.message_type == "CancelRxResponse"
    assert parsed.relates_to_message_id == "cancel-1"
    assert parsed.fields["outcome"] == ("approved" if approved else "denied")
    assert parsed.fields["reason_codes"] == list(reason_codes)


def test_status_round_trip_and_reply_header():
    request = ncpdp_parse.parse_message(ncpdp_build.build_new_rx(new_rx(message_id="newrx-9")))
    answer_header = ncpdp.reply_header(request, message_id="status-9")
    parsed = ncpdp_parse.parse_message(ncpdp_build.build_status(header=answer_header))

    assert parsed.message_type == "Status"
    assert parsed.message_id == "status-9"
    assert parsed.relates_to_message_id == "newrx-9"
    # To and From swap for the answer.
    assert (parsed.to_id, parsed.to_qualifier) == (PRESCRIBER_SPI, "D")
    assert (parsed.from_id, parsed.from_qualifier) == (PHARMACY_ID, "P")
    assert parsed.prescriber_order_number == "ORD-1001"
    assert parsed.fields == {"code": "010", "description": ""}

    accepted = ncpdp_parse.parse_message(ncpdp_build.build_status("000", "Queued", header=answer_header))
    assert accepted.fields == {"code": "000", "description": "Queued"}


def test_status_must_relate_to_a_message():
    with pytest.raises(ValueError, match="relate"):
        ncpdp_build.build_status(header=header())


@pytest.mark.parametrize(
    ("code", "transient"), [("600", True), ("602", True), ("601", False), ("900", False)]
)
def test_error_round_trip(code, transient):
    xml = ncpdp_build.build_error(
        code,
        "Pharmacy not found",
        header=pharmacy_header(relates_to_message_id="newrx-1"),
        description_codes=("1000", "4000"),
    )
    parsed = ncpdp_parse.parse_message(xml)

    assert parsed.message_type == "Error"
    assert parsed.relates_to_message_id == "newrx-1"
    assert parsed.fields == {
        "code": code,
        "description_codes": ["1000", "4000"],
        "description": "Pharmacy not found",
        "transient": transient,
    }


def test_verify_round_trip():
    parsed = ncpdp_parse.parse_message(
        ncpdp_build.build_verify("Delivered", header=pharmacy_header(relates_to_message_id="newrx-1"))
    )
    assert parsed.message_type == "Verify"
    assert parsed.relates_to_message_id == "newrx-1"
    assert parsed.fields == {"code": "010", "description": "Delivered"}


def test_transient_and_permanent_codes_follow_the_reference():
    assert sorted(ncpdp.TRANSIENT_ERROR_CODES) == ["600", "602"]
    assert sorted(ncpdp.PERMANENT_ERROR_CODES) == ["601", "700", "900"]
    assert ncpdp.is_transient_error("602")
    assert not ncpdp.is_transient_error("900")
    assert not ncpdp.is_transient_error("999")  # unknown -> a person looks, no blind retries


def test_quantity_units_are_the_nci_subset():
    assert len(ncpdp.QUANTITY_UNITS) == 28
    assert ncpdp.QUANTITY_UNITS["C48542"] == "Tablet"
    assert ncpdp.QUANTITY_UNITS["C28254"] == "Milliliter"
    assert "C48551" not in ncpdp.QUANTITY_UNITS  # Vial is a dose unit, not a quantity unit (§5)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("quantity", ["0", "-5", "0.0", "abc", "123456789012"])
def test_validation_refuses_bad_quantities(quantity):
    xml = mutate(
        ncpdp_build.build_new_rx(new_rx()), "Body/NewRx/MedicationPrescribed/Quantity/Value", quantity
    )
    problems = ncpdp_validate.validate_new_rx(xml)
    assert len(problems) == 1
    assert "quantity" in problems[0]


def test_builder_refuses_non_positive_quantity():
    with pytest.raises(ValueError, match="quantity"):
        ncpdp_build.build_new_rx(new_rx(replace(LISINOPRIL, quantity=Decimal("0"))))


def test_validation_refuses_unknown_unit():
    xml = ncpdp_build.build_new_rx(new_rx(replace(LISINOPRIL, quantity_unit="C99999")))
    assert ncpdp_validate.validate_new_rx(xml) == ["unknown quantity unit code 'C99999'"]


@pytest.mark.parametrize("refills", ["100", "-1", "PRN"])
def test_validation_refuses_refills_over_limit(refills):
    xml = mutate(
        ncpdp_build.build_new_rx(new_rx()), "Body/NewRx/MedicationPrescribed/NumberOfRefills", refills
    )
    assert ncpdp_validate.validate_new_rx(xml) == [f"refills must be 0-99, not {refills!r}"]


def test_builder_refuses_refills_over_limit():
    with pytest.raises(ValueError, match="refills"):
        ncpdp_build.build_new_rx(new_rx(replace(LISINOPRIL, refills=100)))


def test_validation_refuses_schedule_ii_with_refills():
    xml = ncpdp_build.build_new_rx(new_rx(replace(LISINOPRIL, dea_schedule=ncpdp.DEA_SCHEDULE_II, refills=1)))
    assert ncpdp_validate.validate_new_rx(xml) == ["a Schedule II prescription cannot have refills"]
    # Schedule III-V may have refills.
    xml = ncpdp_build.build_new_rx(new_rx(replace(LISINOPRIL, dea_schedule="C48677", refills=1)))
    assert ncpdp_validate.validate_new_rx(xml) == []


def test_validation_refuses_unknown_schedule_and_gender():
    xml = ncpdp_build.build_new_rx(new_rx(replace(LISINOPRIL, dea_schedule="C00000")))
    xml = mutate(xml, "Body/NewRx/Patient/HumanPatient/Gender", "X")
    assert ncpdp_validate.validate_new_rx(xml) == [
        "gender must be M, F or U, not 'X'",
        "unknown DEA schedule code 'C00000'",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "Header/SentTime",
        "Header/PrescriberOrderNumber",
        "Body/NewRx/Patient/HumanPatient/Name/LastName",
        "Body/NewRx/Pharmacy/Identification/NCPDPID",
        "Body/NewRx/Prescriber/NonVeterinarian/Identification/NPI",
        "Body/NewRx/MedicationPrescribed/DrugDescription",
        "Body/NewRx/MedicationPrescribed/Sig/SigText",
        "Body/NewRx/MedicationPrescribed/WrittenDate",
        "Body/NewRx/Patient/HumanPatient/DateOfBirth",
    ],
)
def test_validation_reports_missing_required_elements(path):
    xml = mutate(ncpdp_build.build_new_rx(new_rx()), path, None)
    assert ncpdp_validate.validate_new_rx(xml) == [f"missing {path}"]


def test_validation_of_other_messages_and_garbage():
    status = ncpdp_build.build_status(header=header(relates_to_message_id="x"))
    assert ncpdp_validate.validate_new_rx(status) == ["expected NewRx, got Status"]
    assert ncpdp_validate.validate_new_rx(b"not xml")[0].startswith("malformed XML")


# ------------------------------------------------------------------ refusals


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Message><Header><MessageID>&lol4;</MessageID></Header><Body><Status><Code>000</Code></Status></Body></Message>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Message [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Message><Header><MessageID>&xxe;</MessageID></Header><Body><Status><Code>000</Code></Status></Body></Message>"""

STATUS_BODY = b"<Body><Status><Code>000</Code></Status></Body>"


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"<Message><Header><MessageID>1</MessageID></Header>", "malformed XML"),
        (b"", "malformed XML"),
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_ENTITY, "DOCTYPE"),
        (
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE Message [<!ENTITY a "b">]>'
            "<Message><Header><MessageID>&a;</MessageID></Header>"
            "<Body><Status><Code>000</Code></Status></Body></Message>".encode("utf-16"),
            "DOCTYPE",
        ),
        (b"<Envelope><Header><MessageID>1</MessageID></Header>" + STATUS_BODY + b"</Envelope>", "root"),
        (
            b'<Message xmlns="http://www.ncpdp.org/schema/SCRIPT"><Header><MessageID>1</MessageID></Header>'
            + STATUS_BODY
            + b"</Message>",
            "namespaced",
        ),
        (b"<Message><Header><To>1</To></Header>" + STATUS_BODY + b"</Message>", "MessageID"),
        (b"<Message><Header><MessageID> </MessageID></Header>" + STATUS_BODY + b"</Message>", "MessageID"),
        (b"<Message><Header><MessageID>1</MessageID></Header></Message>", "Header and Body"),
        (
            b"<Message><Header><MessageID>1</MessageID></Header><Body><RxFill/></Body></Message>",
            "unknown message type RxFill",
        ),
        (b"<Message><Header><MessageID>1</MessageID></Header><Body/></Message>", "exactly one"),
        (
            b"<Message><Header><MessageID>1</MessageID></Header>"
            b"<Body><RxRenewalResponse><Response/></RxRenewalResponse></Body></Message>",
            "Response",
        ),
    ],
)
def test_parse_refuses(xml, reason):
    with pytest.raises(NcpdpError, match=reason):
        ncpdp_parse.parse_message(xml)


def test_parse_refuses_oversized_messages():
    with pytest.raises(NcpdpError, match="larger"):
        ncpdp_parse.parse_message(b" " * (ncpdp.MAX_MESSAGE_BYTES + 1))


def test_parse_refuses_text_instead_of_bytes():
    with pytest.raises(NcpdpError, match="bytes"):
        ncpdp_parse.parse_message(ncpdp_build.build_new_rx(new_rx()).decode())  # type: ignore[arg-type]
