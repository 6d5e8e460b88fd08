"""Expected answers of the prescriptions URLs per persona (see tests/test_authorization_matrix.py)."""

from decimal import Decimal


def setup(ctx):
    from prescriptions import services
    from prescriptions.catalog import catalog_import_products
    from prescriptions.models import Medication

    catalog_import_products(
        products=[
            {
                "rxcui": "314076",
                "name": "Lisinopril 10 MG Oral Tablet",
                "tty": "SCD",
                "ingredients": [{"name": "Lisinopril", "rxcui": "29046"}],
            }
        ],
        schedules={},
    )
    from django.contrib.auth import get_user_model

    med = Medication.objects.get(rxcui="314076")
    clinician = getattr(ctx, "clinician", None) or get_user_model().objects.get(username="dr.alice")
    data = {"medication_id": med.pk, "dose": Decimal(1), "quantity": Decimal(30), "quantity_unit": "C48542"}
    ctx.rx = services.prescription_create(actor=clinician, patient_id=ctx.patient.pk, data=data)
    ctx.rx_to_cancel = services.prescription_create(actor=clinician, patient_id=ctx.patient.pk, data=data)
    from prescriptions.models import InboxItem, OutboundMessage, Pharmacy

    ctx.pharmacy = Pharmacy.objects.create(ncpdp_id="1112223", name="Matrix Pharmacy", is_electronic=False)
    ctx.item = InboxItem.objects.create(
        kind="renewal",
        message_id="1" * 32,
        pharmacy=ctx.pharmacy,
        prescriber=clinician,
        patient=ctx.patient,
        prescription=ctx.rx,
        payload=b"",
        summary="Renewal request: Lisinopril 10 MG Oral Tablet (2 refills asked)",
        fields={"refills": "2"},
    )
    ctx.message = OutboundMessage.objects.create(
        prescription=ctx.rx,
        patient=ctx.patient,
        message_type="NewRx",
        message_id="0" * 32,
        payload=b"<x/>",
        endpoint="http://127.0.0.1:9/ncpdp",
        status="needs_attention",
    )


_LOGIN = 302
# 403: a user who may see the patient but lacks the permission is told so (issue 17 item 5); 404: outsiders.
_CLINICAL_READ = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 200,
    "front_desk": 403,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}
_PRESCRIBE = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 403,
    "front_desk": 403,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}
_ANY_USER = {
    "clinician": 200,
    "colleague": 200,
    "nurse": 200,
    "front_desk": 200,
    "admin_user": 200,
    "privacy": 200,
    "anonymous": _LOGIN,
}
# Retry / resolve a needs-attention message: CHANGE_CLINICAL on its patient (the one door, not is_staff).
_ATTENTION_POST = {
    "clinician": 302,
    "colleague": 404,
    "nurse": 302,
    "front_desk": 403,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}
# The preferred pharmacy is demographics: whoever may change the patient's demographics.
_DEMOGRAPHICS_CHANGE = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 200,
    "front_desk": 200,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}

ENTRIES = [
    {"name": "prescriptions:inbox", "kwargs": lambda ctx: {}, "method": "get", "expect": _ANY_USER},
    {
        "name": "prescriptions:inbox_respond",
        "kwargs": lambda ctx: {"item_id": "00000000-0000-0000-0000-000000000000"},
        "method": "post",
        "data": {"decision": "approve"},
        "expect": {**{k: 404 for k in _ANY_USER}, "anonymous": _LOGIN},
    },
    # Only the addressee, still holding PRESCRIBE on the patient, opens a request.
    {
        "name": "prescriptions:inbox_item",
        "kwargs": lambda ctx: {"item_id": ctx.item.pk},
        "method": "get",
        "expect": {**{k: 404 for k in _ANY_USER}, "clinician": 200, "anonymous": _LOGIN},
    },
    # Everyone may open the queue; it lists only patients whose chart they may open.
    {"name": "prescriptions:attention", "kwargs": lambda ctx: {}, "method": "get", "expect": _ANY_USER},
    {
        "name": "prescriptions:attention_retry",
        "kwargs": lambda ctx: {"message_id": ctx.message.pk},
        "method": "post",
        "expect": _ATTENTION_POST,
    },
    {
        "name": "prescriptions:attention_resolve",
        "kwargs": lambda ctx: {"message_id": ctx.message.pk},
        "method": "post",
        "data": {"note": "phoned in"},
        "expect": _ATTENTION_POST,
    },
    # The directory is not patient data.
    {
        "name": "prescriptions:pharmacy_directory",
        "kwargs": lambda ctx: {},
        "method": "get",
        "data": {"q": "matrix"},
        "expect": _ANY_USER,
    },
    {
        "name": "prescriptions:pharmacy_choose",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "method": "get",
        "expect": _DEMOGRAPHICS_CHANGE,
    },
    {
        "name": "prescriptions:pharmacy_choose",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "method": "post",
        "data": lambda ctx: {"pharmacy_id": ctx.pharmacy.pk},
        "expect": {**_DEMOGRAPHICS_CHANGE, "clinician": 302, "nurse": 302, "front_desk": 302},
    },
    {
        "name": "prescriptions:pharmacy_choose",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "method": "get",
        "expect": {**{k: 404 for k in _ANY_USER}, "anonymous": _LOGIN},
    },
    # HMAC-authenticated, no session: everyone without a valid signature gets 401.
    {
        "name": "prescriptions:inbound",
        "kwargs": lambda ctx: {},
        "method": "post",
        "data": {},
        "expect": {k: 401 for k in _ANY_USER},
    },
    {
        "name": "prescriptions:medication_search",
        "kwargs": lambda ctx: {},
        "method": "get",
        "expect": _ANY_USER,
    },
    {
        "name": "prescriptions:new",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "method": "get",
        "expect": _PRESCRIBE,
    },
    {
        "name": "prescriptions:new",
        "kwargs": lambda ctx: {"patient_id": ctx.other_patient.pk},
        "method": "get",
        "expect": {**_PRESCRIBE, "clinician": 404, "nurse": 404, "front_desk": 404},
    },
    {
        "name": "prescriptions:detail",
        "kwargs": lambda ctx: {"prescription_id": ctx.rx.pk},
        "method": "get",
        "expect": _CLINICAL_READ,
    },
    {
        "name": "prescriptions:status",
        "kwargs": lambda ctx: {"prescription_id": ctx.rx.pk},
        "method": "get",
        "expect": _CLINICAL_READ,
    },
    {
        "name": "prescriptions:sign",
        "kwargs": lambda ctx: {"prescription_id": ctx.rx.pk},
        "method": "get",
        "expect": _PRESCRIBE,
    },
    {
        "name": "prescriptions:cancel",
        "kwargs": lambda ctx: {"prescription_id": ctx.rx_to_cancel.pk},
        "method": "post",
        "expect": {**_PRESCRIBE, "clinician": 302},
    },
    {
        "name": "prescriptions:print",
        "kwargs": lambda ctx: {"prescription_id": ctx.rx.pk},
        "method": "get",
        "expect": _CLINICAL_READ,
    },
    # A draft cannot be printed: 403 for those who may see it.
    {
        "name": "prescriptions:pdf",
        "kwargs": lambda ctx: {"prescription_id": ctx.rx.pk},
        "method": "get",
        "expect": {**_CLINICAL_READ, "clinician": 403, "nurse": 403},
    },
]
