import json
import re

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from .exceptions import ActionDenied


class NoStoreMiddleware:
    """Every page an authenticated user sees may carry patient data: never let a browser or proxy keep it.

    Static files are served by WhiteNoise before this middleware runs and keep their long cache headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(
            response
        )  # Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private
        return response


# C0 control characters and DEL. Form text may carry tab, CR and LF (a note's lines); nothing else may reach a
# view: PostgreSQL refuses NUL in text (a 500), and the rest has no place in clinical text or in an audit line.
_CONTROL_ANY = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_FORM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_FORM_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A JSON string escape of one of those (\u0000 ... \u001f but \t \n \r, and \u007f); only then is a body parsed.
_JSON_ESCAPE = re.compile(rb"\\u00(?:[01][0-9a-fA-F]|7[fF])")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_FHIR_PREFIXES = ("/fhir/", "/export/")
_MESSAGE = (
    "The request contained a control character (such as a NUL byte), which is not allowed here. "
    "Remove it and try again."
)


def _json_has_control(value) -> bool:
    if isinstance(value, str):
        return bool(_CONTROL_FORM.search(value))
    if isinstance(value, dict):
        return any(_json_has_control(k) or _json_has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_has_control(v) for v in value)
    return False


def _any(pattern: re.Pattern, pairs) -> bool:
    """Whether a key or one of its values (of QueryDict.lists()) matches `pattern` (keys: any control character)."""
    return any(_CONTROL_ANY.search(k) or any(pattern.search(v) for v in vs) for k, vs in pairs)


def _body_has_control(request) -> str | None:
    content_type = request.content_type or ""
    if content_type in _FORM_TYPES:
        names = [f.name or "" for _, fs in request.FILES.lists() for f in fs]
        if _any(_CONTROL_FORM, request.POST.lists()) or any(_CONTROL_ANY.search(n) for n in names):
            return "form"
    elif content_type == "application/json" or content_type.endswith("+json"):
        body = request.body
        if _CONTROL_FORM_BYTES.search(body) or (
            _JSON_ESCAPE.search(body) and _json_has_control(_json_loads(body))
        ):
            return "json"
    return None


def control_characters_in(request) -> str | None:
    """Where the request carries a control character it may not: "path", "query", "form" or "json"; else None."""
    if _CONTROL_ANY.search(request.path) or _CONTROL_ANY.search(request.path_info):
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if query and (_CONTROL_ANY.search(query) or _any(_CONTROL_ANY, request.GET.lists())):
        return "query"
    if request.method in ("POST", "PUT", "PATCH"):
        return _body_has_control(request)
    return None


def _json_loads(body: bytes):
    try:
        return json.loads(body)
    except ValueError:  # malformed JSON is the view's to refuse, with its own message
        return None


class ControlCharacterMiddleware:
    """Refuse, once and at the edge, a request whose path, query string, form fields (or a FHIR client's JSON)
    carry a NUL or another control character (issue 18 #3): 400, before any view, session or audit write.
    FHIR paths answer with an OperationOutcome, everything else with the plain 400 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            where = control_characters_in(request)
        except OSError:  # the client went away mid-body (UnreadablePostError): handled as Django would
            where = None
        if where is None:
            return self.get_response(request)
        if request.path.startswith(_FHIR_PREFIXES):
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "invalid", "diagnostics": f"{_MESSAGE} ({where})"}],
            }
            return HttpResponse(
                json.dumps(outcome), status=400, content_type="application/fhir+json; charset=utf-8"
            )
        # Rendered without the request: nothing of the session or the user exists yet at this point.
        return HttpResponse(render_to_string("errors/400.html", {"message": _MESSAGE}), status=400)


class ErrorPageMiddleware:
    """The door's answers as the product's pages, DEBUG or not (Django shows its technical 404 page under DEBUG):

    - ActionDenied (a user who may see the patient lacks the permission for this): the 403 page naming the action
      in plain words, with the patient banner (the denied event was recorded by the door);
    - Http404 raised by a view (an outsider's patient, a missing record): the plain 404 page.

    Only exceptions raised by views reach process_exception; an unknown URL keeps Django's own handling."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ActionDenied):
            ctx = {"action": exception.action, "patient": exception.patient}
            return render(request, "errors/403.html", ctx, status=403)
        if isinstance(exception, Http404):
            return render(request, "errors/404.html", status=404)
        return None
