"""Figure: the clinical inbox at a clinician with 5,000 open items (issue 20: p95 <= 60 ms).

The bench clinician gets INBOX_ITEMS open items (results, critical and abnormal among them, pharmacy requests,
tasks) on patients of their care team, written once with bulk_create (keyed `bench:inbox:<n>`, so a second run
adds nothing). The figure is GET /inbox/ through the test client, the whole request as a browser makes it: the
door's visible-patients filter, the counts per queue and kind, the first page of rows, the list event, the
template. The query count is reported beside it (constant however full the inbox is: tests/inbox).
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from .measure import latency_rounds

INBOX_ITEMS = 5_000
TARGET_MS = 60.0

_KINDS = [
    ("result", 2),
    ("result", 1),
    ("critical_result", 0),
    ("result_to_sign", 2),
    ("renewal_request", 2),
    ("task", 2),
    ("result", 2),
    ("change_request", 2),
]


def inbox_seed(clinician, patient_ids: list, *, items: int = INBOX_ITEMS) -> int:
    """Open items for `clinician`, cycling over `patient_ids`. Returns how many were added."""
    from inbox.models import InboxItem

    have = InboxItem.objects.filter(assignee=clinician, source_ref__startswith="bench:inbox:").count()
    rows = []
    for n in range(have, items):
        kind, priority = _KINDS[n % len(_KINDS)]
        rows.append(
            InboxItem(
                kind=kind,
                priority=priority,
                patient_id=patient_ids[n % len(patient_ids)],
                assignee=clinician,
                title=f"Bench item {n}: glucose 180 mg/dL (high)",
                source_ref=f"bench:inbox:{n}",
                link_name="encounters:results",
                link_args=[str(patient_ids[n % len(patient_ids)])],
            )
        )
    InboxItem.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def fig_inbox(b, *, items: int = INBOX_ITEMS) -> None:
    from django.urls import reverse

    from .figures import _get, granted_sample, verified_client

    patients = [row[0] for row in granted_sample(b, 1000)]
    if not patients:
        b.row("inbox_p95", "inbox p95", None, "ms", skipped="no patients on the bench clinician's care team")
        return
    added = inbox_seed(b.clinician, patients, items=items)
    if added:
        with connection.cursor() as cur:
            cur.execute("ANALYZE inbox_inboxitem")
    client = verified_client(b.clinician)
    url = reverse("inbox:inbox")
    res = latency_rounds([lambda: _get(client, url)], rounds=b.rounds, repeat=b.repeat)
    with CaptureQueriesContext(connection) as ctx:
        _get(client, url)
    n = len(ctx.captured_queries)
    label = f"inbox, {items:,} open items"
    b.row("inbox_p50", f"{label} p50", res["p50"], "ms")
    b.row("inbox_p95", f"{label} p95", res["p95"], "ms", target=TARGET_MS)
    b.row("inbox_queries", f"{label} queries", {"median": n, "min": n, "max": n}, "queries")
