from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "Open EHR administration"
admin.site.site_title = "Open EHR admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("audit/", include("audit.urls")),
    path("schedule/", include("encounters.urls")),
    path("rx/", include("prescriptions.urls")),
    path("fhir/", include("fhirapi.urls")),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("admin/", admin.site.urls),
]

handler400 = "ehr.views.bad_request"
handler403 = "ehr.views.permission_denied"
handler404 = "ehr.views.page_not_found"
handler500 = "ehr.views.server_error"

# The admin is for practice admins and requires a verified second factor (django-otp).
from django_otp.admin import OTPAdminSite  # noqa: E402

admin.site.__class__ = OTPAdminSite
