"""Plain words for who an event names when no person did it: background jobs, the pharmacy network, commands.

An event recorded without a user while a Celery task ran names the task in its detail (audit.services._task_name);
the reports show "System (background task: appointment reminders)", never a raw task path or "system" as if it
were a user.
"""

from __future__ import annotations

# The task's function name (the last part of its Celery name, so a task that moves between apps keeps its words).
TASK_WORDS = {
    "reminders_send": "appointment reminders",
    "series_extend": "recurring appointments",
    "waitlist_offer": "waitlist offers",
    "waitlist_offer_slots": "waitlist offers",
    "break_glass_notify": "emergency-access notice to the privacy officer",
    "transmit_message": "sending a prescription to the pharmacy",
    "requeue_stuck": "retrying prescriptions not yet delivered",
    "purge_inbound_nonces": "pharmacy message clean-up",
    "audit_link_chain": "audit chain linking",
    "audit_ensure_partitions": "audit storage upkeep",
}
CHANNEL_WORDS = {
    "ncpdp": "message from a pharmacy",
    "command": "maintenance command",
    "task": "background task",
    "write": "change made without a signed-in user",
}


def task_words(task: str) -> str:
    short = (task or "").rsplit(".", 1)[-1]
    return TASK_WORDS.get(short) or short.replace("_", " ").strip() or "unnamed"


def system_label(*, channel: str | None, task: str | None) -> str:
    """What a report shows for an event without a user."""
    if task:
        return f"System (background task: {task_words(task)})"
    if channel in CHANNEL_WORDS:
        return f"System ({CHANNEL_WORDS[channel]})"
    return "System"
