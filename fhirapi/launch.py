"""EHR launch from the chart: the "Launch app" page lists the registered apps with a launch URL; choosing one opens
it with `iss` (this server's FHIR base URL) and an opaque `launch` value bound to the user, the app and the patient
(fhirapi/smart.py). The authorize step resolves `launch` to the patient: no patient picker."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts import roles
from patients.selectors import patient_get

from .smart import fhir_base, launch_create


def _launchable():
    from .models import SmartClient

    return (
        SmartClient.objects.exclude(launch_uri="")
        .filter(application__authorization_grant_type="authorization-code")
        .select_related("application")
        .order_by("application__name")
    )


@login_required
@require_http_methods(["GET", "POST"])
def smart_launch(request, patient_id) -> HttpResponse:
    # The door: the user must see the patient's clinical record (the app reads with the user's own permissions).
    patient = patient_get(
        actor=request.user, patient_id=patient_id, perm=roles.VIEW_CLINICAL, request=request
    )
    apps = list(_launchable())
    if request.method == "POST":
        chosen = next((c for c in apps if str(c.application.pk) == request.POST.get("app")), None)
        if chosen is None:
            raise Http404("No such app")
        token = launch_create(application=chosen.application, user=request.user, patient=patient)
        parts = urlsplit(chosen.launch_uri)
        query = "&".join(filter(None, [parts.query, urlencode({"iss": fhir_base(request), "launch": token})]))
        return HttpResponseRedirect(urlunsplit(parts._replace(query=query)))
    return render(request, "fhirapi/smart_launch.html", {"patient": patient, "apps": apps})
