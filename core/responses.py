"""Small pieces every app's views use after a refused form: the refusal as a message, back to the page it came from."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect


def errors_message(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def back(request, default: str) -> HttpResponse:
    """Redirect to the page the form was on (a same-site path posted as `next`), else `default`."""
    nxt = request.POST.get("next", "")
    return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else default)
