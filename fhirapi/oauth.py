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
from django.shortcuts import render
from oauth2_provider.forms import AllowForm
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView

from .smart import LAUNCH, LAUNCH_PATIENT, aud_problem, launch_resolve, listed_scopes, scope_allowed


class SmartScopes(BaseScopes):
    def get_all_scopes(self):
        return listed_scopes()

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        scopes = list(listed_scopes())
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
    # SMART: kept from the request through the consent page (aud is checked on both, launch resolved on the post).
    aud = forms.CharField(required=False, widget=forms.HiddenInput)
    launch = forms.CharField(required=False, widget=forms.HiddenInput)


class SmartAuthorizationView(AuthorizationView):
    """DOT's consent page, with the patient picker of a standalone patient launch."""

    form_class = LaunchAllowForm

    def get(self, request, *args, **kwargs):
        problem = aud_problem(request.GET.get("aud"), request)
        if (
            problem is None
            and request.GET.get("launch")
            and not self._launch_patient(request.GET, consume=False)
        ):
            problem = (
                "The launch value is unknown, expired, used, or not yours: open the app from the chart again."
            )
        if problem is not None:
            return render(request, "fhirapi/authorize_refused.html", {"problem": problem}, status=400)
        return super().get(request, *args, **kwargs)

    def get_initial(self):
        initial = super().get_initial()
        initial["aud"] = self.request.GET.get("aud", "")
        initial["launch"] = self.request.GET.get("launch", "")
        return initial

    def _launch_patient(self, data, *, consume: bool):
        if not self.request.user.is_authenticated:
            return None
        return launch_resolve(
            data.get("launch") or "",
            client_id=data.get("client_id") or "",
            user=self.request.user,
            consume=consume,
        )

    def form_valid(self, form):
        problem = aud_problem(form.cleaned_data.get("aud"), self.request)
        if problem is not None:
            return render(self.request, "fhirapi/authorize_refused.html", {"problem": problem}, status=400)
        scopes = (form.cleaned_data.get("scope") or "").split()
        with transaction.atomic():
            patient = None
            if form.cleaned_data.get("allow") and form.cleaned_data.get("launch") and LAUNCH in scopes:
                patient = self._launch_patient(form.cleaned_data, consume=True)
                if patient is None:
                    problem = (
                        "The launch value is unknown, expired or used: open the app from the chart again."
                    )
                    return render(
                        self.request, "fhirapi/authorize_refused.html", {"problem": problem}, status=400
                    )
            elif LAUNCH_PATIENT in scopes and form.cleaned_data.get("allow"):
                patient, response = self._picked_patient(form)
                if response is not None:
                    return response
            response = super().form_valid(form)
            if patient is not None:
                _launch_remember(self.success_url, patient)
        return response

    def _picked_patient(self, form):
        from .selectors import patient_for_launch

        mrn = (form.cleaned_data.get("patient_mrn") or "").strip()
        if not mrn:
            form.add_error("patient_mrn", "Choose the patient this app is for.")
            return None, self.form_invalid(form)
        try:
            patient = patient_for_launch(actor=self.request.user, mrn=mrn, request=self.request)
        except Http404:
            form.add_error("patient_mrn", "No patient you may see has that MRN.")
            return None, self.form_invalid(form)
        return patient, None

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

    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "fhirUser": "fhirUser"}

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        # A client-credentials token acts as the app's user: only a service account's (accounts/oauth_clients.py).
        from accounts.oauth_clients import application_may_issue

        if not application_may_issue(client, grant_type):
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # v1 and v2 shapes by pattern (fhirapi/smart.py); system/ only for client-credentials apps.
        cc = client is not None and client.authorization_grant_type == client.GRANT_CLIENT_CREDENTIALS
        return all(scope_allowed(scope, cc) for scope in scopes)

    def authenticate_client(self, request, *args, **kwargs):
        # Backend services: a signed JWT (private_key_jwt) instead of a client secret.
        if getattr(request, "client_assertion_type", None) or getattr(request, "client_assertion", None):
            from .smart import client_assertion_application, token_url_of

            app = client_assertion_application(request, token_url_of(request))
            if app is None:
                return False
            request.client, request.client_id = app, app.client_id
            return True
        return super().authenticate_client(request, *args, **kwargs)

    def get_additional_claims(self, request):
        # SMART: the fhirUser claim names the user's FHIR resource (when the fhirUser scope was granted).
        token = getattr(request, "access_token", None)
        scopes = token.scope.split() if hasattr(token, "scope") else (request.scopes or [])
        practitioner = getattr(request.user, "practitioner", None) if request.user is not None else None
        if "fhirUser" not in scopes or practitioner is None:
            return {}  # a user without a practitioner record has no FHIR resource of their own
        from django.urls import reverse

        base = oauth2_settings.oidc_issuer(request).rsplit("/o", 1)[0]
        fhir = reverse("fhirapi:metadata").rsplit("/metadata", 1)[0]
        return {"fhirUser": f"{base}{fhir}/Practitioner/{practitioner.pk}"}

    def finalize_id_token(self, id_token, token, token_handler, request):
        # Every ID token is signed RS256 with the server's key (published at /o/.well-known/jwks.json).
        request.client.algorithm = request.client.RS256_ALGORITHM
        return super().finalize_id_token(id_token, token, token_handler, request)

    def _get_key_for_token(self, token):
        # The ID tokens this server issued are all RS256 with its key (above), whatever the application's field says.
        from oauth2_provider.utils import jwk_from_pem

        return jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY)

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
