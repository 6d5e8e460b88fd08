"""What scheduling tells the apps above it (they import scheduling; scheduling imports none of them)."""

from django.dispatch import Signal

# Sent inside the transaction that moved an appointment along the patient flow, after the row is saved:
# receivers (encounters/flow.py) write in the same transaction, so an error there undoes the move.
# Arguments: appointment (the locked, saved row), status (the new status).
appointment_advanced = Signal()
