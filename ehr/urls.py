from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth_urls

from core import views as core_views
from fhirapi import views as fhir_views
from fhirapi.launch import smart_launch
from fhirapi.oauth import SmartAuthorizationView

from . import views

admin.site.site_header = "Open EHR administration"
admin.site.site_title = "Open EHR admin"

# Only the OAuth endpoints a client uses (issue 18 #1): authorize, token, revoke, introspect, the metadata and (when
# enabled) OpenID Connect's. Not routed: the toolkit's application and token management pages, dynamic client
# registration and the device flow. Applications are made by administrators (accounts/oauth_clients.py).
OAUTH_CLIENT_URLS = [
    *oauth_urls.metadata_urlpatterns,
    *(
        p
        for p in oauth_urls.base_urlpatterns
        if p.name in {"authorize", "token", "revoke-token", "introspect"}
    ),
    *(oauth_urls.oidc_urlpatterns if settings.OAUTH2_PROVIDER.get("OIDC_ENABLED") else []),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without a <link rel="icon"> (the plain error pages).
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("accounts/", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("audit/", include("audit.urls")),
    path("schedule/", include("scheduling.urls")),
    path("schedule/", include("encounters.urls")),
    path("rx/", include("prescriptions.urls")),
    path("clinic/", include("clinic.urls")),
    path("orders/", include("orders.urls")),
    path("inbox/", include("inbox.urls")),
    path("fhir/", include("fhirapi.urls")),
    path("export/", include("fhirapi.export_urls")),
    # The consent page of SMART launches (patient picker) in front of django-oauth-toolkit's own.
    path("o/authorize/", SmartAuthorizationView.as_view(), name="smart_authorize"),
    # EHR launch from the chart: pick a registered app, open it with iss and launch (fhirapi/launch.py).
    path("smart/launch/<uuid:patient_id>/", smart_launch, name="smart_launch"),
    path(".well-known/smart-configuration", fhir_views.smart_configuration, name="smart_configuration"),
    path("o/", include((OAUTH_CLIENT_URLS, "oauth2_provider"), namespace="oauth2_provider")),
    path("admin/", admin.site.urls),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"

# The admin (admin.site) is for practice admins and superusers with a verified second factor: its class is set
# where its rules live, accounts/admin.py (PracticeAdminSite).
