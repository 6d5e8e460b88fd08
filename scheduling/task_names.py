"""Registered Celery task names, for the services that queue a task without importing tasks.py (which imports them).
Kept as they were when scheduling was part of `encounters`: tasks already queued under them still arrive."""

WAITLIST_OFFER_SLOTS = "encounters.tasks.waitlist_offer_slots"
