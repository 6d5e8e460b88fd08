"""Expected answers of the orders URLs per persona (see tests/test_authorization_matrix.py)."""


def setup(ctx):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from orders.catalog import catalog_load, lab_ensure
    from orders.models import InboundMessage, LabTest, Order, ResultReport

    catalog_load()
    clinician = getattr(ctx, "clinician", None) or get_user_model().objects.get(username="dr.alice")
    lab = lab_ensure(name="Paper Lab", facility="PAPER", application="PAPER")  # no address: nothing is sent
    test = LabTest.objects.get(loinc="4548-4")
    ctx.order = Order.objects.create(
        patient=ctx.patient,
        test=test,
        ordering_clinician=clinician,
        lab=lab,
        diagnoses=[{"code": "E11.9", "description": "Type 2 diabetes mellitus without complications"}],
        placer_number="OEMATRIX0001",
        signed_at=timezone.now(),
    )
    ctx.report = ResultReport.objects.create(
        patient=ctx.patient,
        order=ctx.order,
        ordering_clinician=clinician,
        loinc=test.loinc,
        test_name=test.name,
        status="final",
        observed_at=timezone.now(),
    )
    ctx.unmatched = InboundMessage.objects.create(
        raw=b"MSH|^~\\&|LABSIM|LABSIM|OPENEHR|OPENEHR-CLINIC|20261201||ORU^R01|M1|P|2.5.1\rPID|1||X1||Nobody^N",
        sha256="0" * 64,
        sending_facility="LABSIM",
        control_id="M1",
        message_type="ORU^R01",
        status="unmatched",
        outcome="no patient with MRN X1",
    )


_LOGIN = 302
_CLINICAL_READ = {
    "clinician": 200,
    "colleague": 404,
    "nurse": 200,
    "front_desk": 403,
    "admin_user": 404,
    "privacy": 404,
    "anonymous": _LOGIN,
}
_DOCUMENT = _CLINICAL_READ
_PRESCRIBE = {**_CLINICAL_READ, "nurse": 403}
_ANY_USER = {p: 200 for p in _CLINICAL_READ} | {"anonymous": _LOGIN}
# The unmatched queue: clinical staff (orders.resolve_unmatched), whatever patient the message names.
_RESOLVERS = {
    "clinician": 200,
    "colleague": 200,
    "nurse": 200,
    "front_desk": 403,
    "admin_user": 403,
    "privacy": 403,
    "anonymous": _LOGIN,
}

ENTRIES = [
    {
        "name": "orders:patient_orders",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "expect": _CLINICAL_READ,
    },
    {"name": "orders:new", "kwargs": lambda ctx: {"patient_id": ctx.patient.pk}, "expect": _PRESCRIBE},
    # A post with nothing in it: the prescriber is told what is missing (400); the others never get that far.
    {
        "name": "orders:new",
        "method": "post",
        "kwargs": lambda ctx: {"patient_id": ctx.patient.pk},
        "expect": {**_PRESCRIBE, "clinician": 400},
    },
    {"name": "orders:in_office", "kwargs": lambda ctx: {"patient_id": ctx.patient.pk}, "expect": _DOCUMENT},
    {"name": "orders:order", "kwargs": lambda ctx: {"order_id": ctx.order.pk}, "expect": _CLINICAL_READ},
    {
        "name": "orders:requisition",
        "kwargs": lambda ctx: {"order_id": ctx.order.pk},
        "expect": _CLINICAL_READ,
    },
    # Everyone may open their own list; it holds only results they ordered, of patients they may see.
    {"name": "orders:review", "kwargs": lambda ctx: {}, "expect": _ANY_USER, "hides_other": True},
    {"name": "orders:report", "kwargs": lambda ctx: {"report_id": ctx.report.pk}, "expect": _CLINICAL_READ},
    {
        "name": "orders:sign_off",
        "method": "post",
        "kwargs": lambda ctx: {"report_id": ctx.report.pk},
        "data": {"comment": "seen"},
        "expect": {**_PRESCRIBE, "clinician": 302},
    },
    # Cancelling: the prescriber (a second cancel is told it is done already: a redirect too); nurses 403.
    {
        "name": "orders:cancel",
        "method": "post",
        "kwargs": lambda ctx: {"order_id": ctx.order.pk},
        "data": {"reason": "ordered twice"},
        "expect": {**_PRESCRIBE, "clinician": 302},
    },
    {"name": "orders:unmatched", "kwargs": lambda ctx: {}, "expect": _RESOLVERS},
    {
        "name": "orders:unmatched_detail",
        "kwargs": lambda ctx: {"message_id": ctx.unmatched.pk},
        "expect": _RESOLVERS,
    },
    # Attaching files the results to a chart: the resolver must also be allowed to document in that chart.
    {
        "name": "orders:unmatched_detail",
        "method": "post",
        "kwargs": lambda ctx: {"message_id": ctx.unmatched.pk},
        "data": lambda ctx: {"mrn": ctx.patient.mrn},
        "expect": {**_RESOLVERS, "clinician": 302, "nurse": 302, "colleague": 404},
    },
]
