"""What e-prescribing tells the apps above it, without importing them (pyproject.toml's layers).

Sent inside the transaction that stored or answered the request, so a receiver's failure undoes the change (the
pharmacy is answered with an error and sends again; nothing is half-stored):

- `pharmacy_request_received(item=InboxItem)`: a renewal or change request was stored, once per MessageID;
- `pharmacy_request_answered(item=InboxItem, actor=user)`: the prescriber approved or denied it.

The clinical inbox (`inbox/receivers.py`) turns them into work-queue items.
"""

from django.dispatch import Signal

pharmacy_request_received = Signal()
pharmacy_request_answered = Signal()
