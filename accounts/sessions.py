"""Sessions in the database, read through Redis (SESSION_ENGINE = "accounts.sessions").

Django's cached_db store, with every cache call guarded: the database stays the record (deactivation finds and
deletes a user's sessions there, accounts/signals.py), Redis saves the session query on each page, and a Redis
outage costs that query again instead of a failed sign-in (cached_db itself lets a failed cache write or delete
raise).
"""

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore

log = logging.getLogger(__name__)


def forget(session_keys) -> None:
    """Drop the cached copies of sessions deleted from the database (a deactivated user's)."""
    from django.conf import settings
    from django.core.cache import caches

    try:
        caches[settings.SESSION_CACHE_ALIAS].delete_many([cached_db.KEY_PREFIX + k for k in session_keys])
    except Exception:
        log.warning("session cache unavailable; cached sessions expire on their own", exc_info=True)


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            log.warning("session cache unavailable; reading the session from the database", exc_info=True)
            data = None
        if data is not None:
            return data
        s = self._get_session_from_db()
        if not s:
            return {}
        data = self.decode(s.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=s.expire_date))
        except Exception:
            log.warning("session cache unavailable", exc_info=True)
        return data

    def exists(self, session_key):
        return DBStore.exists(self, session_key)

    def delete(self, session_key=None):
        DBStore.delete(self, session_key)
        session_key = session_key or self.session_key
        if session_key:
            forget([session_key])
