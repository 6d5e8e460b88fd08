from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.roles import user_roles
from clinic.home import clinic_panel
from encounters.home import home_panels
from inbox.selectors import home_panel as inbox_panel


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its own work list; the panels come from the apps that own them. The project package
    stands above every app (pyproject.toml's layers), so the home page may take from any of them."""
    panels = home_panels(actor=request.user) + clinic_panel(user=request.user)
    inbox = inbox_panel(actor=request.user)  # the inbox count, after the day's list
    if inbox is not None:
        panels.insert(1, inbox)
    return render(request, "home.html", {"panels": panels, "roles": user_roles(request.user)})
