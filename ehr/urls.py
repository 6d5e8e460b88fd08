from django.contrib import admin
from django.urls import include, path

from core import views as core_views
from fhirapi import views as fhir_views
from fhirapi.oauth import SmartAuthorizationView

from . import views

admin.site.site_header = "Open EHR administration"
admin.site.site_title = "Open EHR admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("audit/", include("audit.urls")),
    path("schedule/", include("scheduling.urls")),
    path("schedule/", include("encounters.urls")),
    path("rx/", include("prescriptions.urls")),
    path("fhir/", include("fhirapi.urls")),
    path("export/", include("fhirapi.export_urls")),
    # The consent page of SMART launches (patient picker) in front of django-oauth-toolkit's own.
    path("o/authorize/", SmartAuthorizationView.as_view(), name="smart_authorize"),
    path(".well-known/smart-configuration", fhir_views.smart_configuration, name="smart_configuration"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("admin/", admin.site.urls),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"

# The admin (admin.site) is for practice admins and superusers with a verified second factor: its class is set
# where its rules live, accounts/admin.py (PracticeAdminSite).
