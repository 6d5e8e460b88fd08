"""Exceptions the error pages know how to word (core/middleware.py ErrorPageMiddleware, core/views.py)."""

from django.http import Http404


class ActionDenied(Http404):
    """A user who may see the patient lacks the one permission this page or action needs (a nurse opening
    Prescribe, front desk opening a visit note): the 403 page says "You do not have permission to <action>".

    `action` is a phrase from a fixed vocabulary (patients/denials.py), never free text or an internal message;
    `patient` is the patient already fetched through the door (for the banner), or None.

    A subclass of Http404 so that a caller that does not know it (the FHIR API, the OAuth launch) answers exactly
    as before, as for an outsider; the web pages turn it into the 403 page (ErrorPageMiddleware)."""

    def __init__(self, action: str, *, patient=None):
        super().__init__("action denied")
        self.action = action
        self.patient = patient
