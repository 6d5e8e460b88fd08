from django.http import Http404
from django.shortcuts import render
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
