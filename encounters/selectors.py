"""Reads of scheduling and encounter data (placeholder until the scheduling slice lands)."""


def home_panels(*, actor) -> list[dict]:
    return []
