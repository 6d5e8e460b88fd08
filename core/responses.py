"""Small pieces every app's views use after a refused form: the refusal as a message, back to the page it came from."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from .redirects import redirect_back


def errors_message(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def back(request, default: str) -> HttpResponse:
    """Redirect to the page the form was on (a same-site path posted as `next`), else `default`."""
    return redirect_back(request, default, value=request.POST.get("next", ""))
