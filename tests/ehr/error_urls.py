"""A test-only urlconf: the real routes plus views that fail on purpose. Never imported by ehr/urls.py."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from ehr.urls import handler400, handler403, handler404, handler500  # noqa: F401
from ehr.urls import urlpatterns as real_urlpatterns

SECRET_IN_EXCEPTION = "hunter2-db-password"


def boom(request):
    raise RuntimeError(
        f"connection to postgres://ehr:{SECRET_IN_EXCEPTION}@db/ehr failed in /srv/ehr/settings.py"
    )


def forbidden(request):
    raise PermissionDenied(f"internal reason {SECRET_IN_EXCEPTION}")


urlpatterns = [
    path("__test__/boom/", boom),
    path("__test__/forbidden/", forbidden),
    *real_urlpatterns,
]
