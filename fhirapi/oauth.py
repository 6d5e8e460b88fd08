"""SMART App Launch on django-oauth-toolkit: the scopes the API understands, the standalone patient launch (the
user picks the patient on the consent page) and the patient context on the token response.

- Scopes: `fhirapi.auth.SCOPE_RE` shapes (patient/, user/, system/ + type or * + .read or .*), plus openid,
  fhirUser, launch/patient and offline_access. system/ scopes only for client-credentials applications.
- A request with `launch/patient` shows a patient field on the consent page; the chosen patient is checked
  through the one door (the user must be able to see them) and kept with the authorization code (LaunchGrant).
  The token issued for that code gets a PatientLaunchContext and the response carries `"patient": "<id>"`
  (SMART App Launch 2.0, "launch context arrives with your access token"). Refreshed tokens keep the context.
"""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.http import Http404
from oauth2_provider.forms import AllowForm
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.views import AuthorizationView

from .auth import SCOPES as BROAD_SCOPES

LAUNCH_PATIENT = "launch/patient"
EXTRA_SCOPES = {
    "openid": "Know who you are (OpenID Connect)",
    "fhirUser": "Know your user record",
    LAUNCH_PATIENT: "Choose the patient this app works on",
    "offline_access": "Keep access after you sign out (refresh token)",
}
CONTEXT_WORDS = {"patient": "of the chosen patient", "user": "you may see", "system": "of the whole system"}


def _all_scopes() -> dict[str, str]:
    from .resources import REGISTRY

    scopes = dict(EXTRA_SCOPES)
    for context, words in CONTEXT_WORDS.items():
        for rtype in ("*", *REGISTRY):
            what = "all data" if rtype == "*" else f"{rtype} data"
            for verb in ("read", "*"):
                scopes[f"{context}/{rtype}.{verb}"] = f"Read {what} {words}"
    scopes.update({k: v for k, v in BROAD_SCOPES.items() if k in scopes})
    return scopes


class SmartScopes(BaseScopes):
    def get_all_scopes(self):
        return _all_scopes()

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        scopes = list(_all_scopes())
        if (
            application is not None
            and application.authorization_grant_type != application.GRANT_CLIENT_CREDENTIALS
        ):
            scopes = [s for s in scopes if not s.startswith("system/")]
        return scopes

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return ["user/Patient.read"]


class LaunchAllowForm(AllowForm):
    patient_mrn = forms.CharField(
        label="Patient MRN",
        required=False,
        max_length=12,
        help_text="The app will see this patient only (and only what you may see).",
    )


class SmartAuthorizationView(AuthorizationView):
    """DOT's consent page, with the patient picker of a standalone patient launch."""

    form_class = LaunchAllowForm

    def form_valid(self, form):
        from .selectors import patient_for_launch

        scopes = (form.cleaned_data.get("scope") or "").split()
        patient = None
        if LAUNCH_PATIENT in scopes and form.cleaned_data.get("allow"):
            mrn = (form.cleaned_data.get("patient_mrn") or "").strip()
            if not mrn:
                form.add_error("patient_mrn", "Choose the patient this app is for.")
                return self.form_invalid(form)
            try:
                patient = patient_for_launch(actor=self.request.user, mrn=mrn, request=self.request)
            except Http404:
                form.add_error("patient_mrn", "No patient you may see has that MRN.")
                return self.form_invalid(form)
        with transaction.atomic():
            response = super().form_valid(form)
            if patient is not None:
                _launch_remember(self.success_url, patient)
        return response

    def form_invalid(self, form):
        # DOT's page context (scopes, application) is rebuilt from the posted hidden fields.
        from oauth2_provider.models import get_application_model
        from oauth2_provider.scopes import get_scopes_backend

        scopes = (form.data.get("scope") or "").split()
        all_scopes = get_scopes_backend().get_all_scopes()
        app = get_application_model().objects.filter(client_id=form.data.get("client_id")).first()
        return self.render_to_response(
            self.get_context_data(
                form=form,
                application=app,
                scopes=scopes,
                scopes_descriptions=[all_scopes.get(s, s) for s in scopes],
            )
        )


def _launch_remember(redirect_uri: str | None, patient) -> None:
    """Keep the chosen patient with the authorization code just issued (it is in the redirect's query)."""
    from urllib.parse import parse_qs, urlsplit

    from oauth2_provider.models import get_grant_model

    from .models import LaunchGrant

    code = (parse_qs(urlsplit(redirect_uri or "").query).get("code") or [None])[0]
    grant = get_grant_model().objects.filter(code=code).first() if code else None
    if grant is not None:
        LaunchGrant.objects.create(grant=grant, patient=patient)


class SmartValidator(OAuth2Validator):
    """Adds the launch context to tokens issued for a launch grant, and to their refreshed successors."""

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        # A client-credentials token acts as the app's user: only a service account's (accounts/oauth_clients.py).
        from accounts.oauth_clients import application_may_issue

        if not application_may_issue(client, grant_type):
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        from .models import LaunchGrant, PatientLaunchContext

        # Found before the toolkit revokes the old token (which deletes its context with it).
        request.smart_patient_id = None
        if request.grant_type == "authorization_code":
            launch = LaunchGrant.objects.filter(grant__code=request.code).first()
            request.smart_patient_id = launch.patient_id if launch else None
        elif request.grant_type == "refresh_token":
            old = getattr(request, "refresh_token_instance", None)
            if old is not None and old.access_token_id:
                ctx = PatientLaunchContext.objects.filter(token_id=old.access_token_id).first()
                request.smart_patient_id = ctx.patient_id if ctx else None
        return super()._save_bearer_token(token, request, *args, **kwargs)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        from .models import PatientLaunchContext

        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        patient_id = getattr(request, "smart_patient_id", None)
        if patient_id is not None:
            PatientLaunchContext.objects.create(token=access_token, patient_id=patient_id)
            token["patient"] = str(patient_id)
        return access_token
