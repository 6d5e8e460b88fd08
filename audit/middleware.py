"""django-auditlog's middleware, with the write log's source address taken the way access events take it.

auditlog trusts the first X-Forwarded-For entry, which any client can set; `client_ip` uses REMOTE_ADDR, or behind
TRUSTED_PROXY_COUNT proxies the right-most hop none of them vouches for.
"""

from auditlog.middleware import AuditlogMiddleware as BaseAuditlogMiddleware
from django.conf import settings

from .services import client_ip


class AuditlogMiddleware(BaseAuditlogMiddleware):
    @staticmethod
    def _get_remote_addr(request):
        return None if settings.AUDITLOG_DISABLE_REMOTE_ADDR else client_ip(request)

    @staticmethod
    def _get_remote_port(request):
        if getattr(settings, "TRUSTED_PROXY_COUNT", 0) <= 0:
            return None  # a client-supplied X-Forwarded-Port says nothing
        return BaseAuditlogMiddleware._get_remote_port(request)
