"""The clinic's units for vital signs, read through the shared cache.

Every chart page needs them (to draw vitals and as part of the cached page's key), and they change perhaps once in
a clinic's life, so a chart page should not spend a query on them. The value lives in the cache (Redis) for at most
UNITS_CACHE_SECONDS; a change is seen at once because saving or deleting the row drops the cached value once the
transaction commits. Two rules keep an uncommitted or rolled-back choice out of the cache: a read inside a
transaction goes to the database and caches nothing, and the drop happens on commit. Without the cache (Redis down)
every read goes to the database.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection, transaction

from .models import ClinicUnits

log = logging.getLogger(__name__)

CACHE_KEY = "encounters:clinic-units:v1"
UNITS_CACHE_SECONDS = 300  # bounds a race between a reader's miss and a writer's commit


def clinic_units() -> dict[str, str]:
    """The units the clinic reads and types vital signs in (field -> UCUM code)."""
    if connection.in_atomic_block:
        return ClinicUnits.current().as_dict()
    try:
        units = cache.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 (the cache is an optimisation; the database answers without it)
        log.warning("clinic units: cache unavailable, reading the database", exc_info=True)
        return ClinicUnits.current().as_dict()
    if isinstance(units, dict):
        return units
    units = ClinicUnits.current().as_dict()
    try:
        cache.set(CACHE_KEY, units, UNITS_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        log.warning("clinic units: could not cache", exc_info=True)
    return units


def forget(**_kwargs) -> None:
    """post_save / post_delete of ClinicUnits: drop the cached value when the change commits."""

    def _drop():
        try:
            cache.delete(CACHE_KEY)
        except Exception:  # noqa: BLE001
            log.warning("clinic units: could not drop the cached value", exc_info=True)

    transaction.on_commit(_drop)
