"""The clinic settings pages (/clinic/): parse, call a selector or a service, render. Every page checks its
section's permission (access.require: the 403 page for staff without it); a refused input is shown again with
everything typed and a message that says what to change (400)."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import forms, selectors, services
from .access import require, sections_for


def section(key: str | None):
    """Signed in, and the section's permission (None: any section, the overview)."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args, **kwargs):
            require(request.user, key, request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _posted(request):
    """The form data of a POST (even an empty one: a grid with every block cleared), None for a GET."""
    return request.POST if request.method == "POST" else None


def _or_404(obj):
    if obj is None:
        raise Http404("not found")
    return obj


def _refused(form, exc: ValidationError) -> None:
    for m in exc.messages:
        form.add_error(None, m)


_CURRENT = {
    "location": "locations",
    "room": "locations",
    "provider": "hours",
    "type": "types",
    "template": "templates",
}


def _page(request, template: str, ctx: dict, *, status: int = 200) -> HttpResponse:
    ctx.setdefault("sections", sections_for(request.user))
    name = request.resolver_match.url_name if request.resolver_match else ""
    ctx.setdefault("current", _CURRENT.get(name.split("_")[0], name))
    return render(request, template, ctx, status=status)


# ------------------------------------------------------------------ overview
@section(None)
@require_http_methods(["GET"])
def overview(request: HttpRequest) -> HttpResponse:
    return _page(request, "clinic/overview.html", {"counts": selectors.overview()})


# ------------------------------------------------------------------ locations and rooms
@section("locations")
@require_http_methods(["GET", "POST"])
def locations(request: HttpRequest) -> HttpResponse:
    form = forms.LocationForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            loc = services.location_save(actor=request.user, data=form.cleaned_data, request=request)
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"{loc.name} added. Add its rooms below.")
            return redirect("clinic:location", location_id=loc.pk)
    status = 400 if form.is_bound else 200
    return _page(
        request, "clinic/locations.html", {"rows": selectors.locations(), "form": form}, status=status
    )


def _location_page(request, location, *, form=None, room_form=None, room_edit=None, status=200):
    return _page(
        request,
        "clinic/location.html",
        {
            "location": location,
            "form": form or forms.LocationForm(instance=location),
            "room_form": room_form or forms.RoomForm(),
            "rooms": selectors.rooms_of(location=location),
            "room_edit": room_edit,  # (room id, bound form) of a refused rename
        },
        status=status,
    )


@section("locations")
@require_http_methods(["GET", "POST"])
def location(request: HttpRequest, location_id) -> HttpResponse:
    loc = _or_404(selectors.location_get(location_id=location_id))
    if request.method == "GET":
        return _location_page(request, loc)
    form = forms.LocationForm(request.POST, instance=selectors.location_get(location_id=location_id))
    if form.is_valid():
        try:
            services.location_save(actor=request.user, data=form.cleaned_data, location=loc, request=request)
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"{loc.name} saved.")
            return redirect("clinic:location", location_id=loc.pk)
    return _location_page(request, selectors.location_get(location_id=location_id), form=form, status=400)


@section("locations")
@require_POST
def location_active(request: HttpRequest, location_id) -> HttpResponse:
    loc = _or_404(selectors.location_get(location_id=location_id))
    active = request.POST.get("active") == "1"
    try:
        services.location_set_active(actor=request.user, location=loc, active=active, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"{loc.name} {'reopened' if active else 'closed: booking no longer offers it'}."
        )
    return redirect("clinic:location", location_id=loc.pk)


@section("locations")
@require_POST
def room_add(request: HttpRequest, location_id) -> HttpResponse:
    loc = _or_404(selectors.location_get(location_id=location_id))
    form = forms.RoomForm(request.POST)
    if form.is_valid():
        try:
            room = services.room_save(
                actor=request.user, location=loc, name=form.cleaned_data["name"], request=request
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"{room.name} added to {loc.name}.")
            return redirect("clinic:location", location_id=loc.pk)
    return _location_page(request, loc, room_form=form, status=400)


@section("locations")
@require_POST
def room(request: HttpRequest, location_id, room_id) -> HttpResponse:
    loc = _or_404(selectors.location_get(location_id=location_id))
    obj = _or_404(selectors.room_get(location=loc, room_id=room_id))
    if "active" in request.POST:
        active = request.POST.get("active") == "1"
        services.room_set_active(actor=request.user, room=obj, active=active, request=request)
        messages.success(request, f"{obj.name} {'back in use' if active else 'taken out of use'}.")
        return redirect("clinic:location", location_id=loc.pk)
    form = forms.RoomForm(request.POST)
    if form.is_valid():
        try:
            services.room_save(
                actor=request.user, location=loc, name=form.cleaned_data["name"], room=obj, request=request
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"Room renamed to {obj.name}.")
            return redirect("clinic:location", location_id=loc.pk)
    return _location_page(request, loc, room_edit=(obj.pk, form), status=400)


# ------------------------------------------------------------------ working hours
@section("hours")
@require_http_methods(["GET"])
def hours(request: HttpRequest) -> HttpResponse:
    rows = selectors.providers_with_hours(on=selectors.clinic_today())
    return _page(request, "clinic/hours.html", {"rows": rows, "weekdays": selectors.WEEKDAYS})


@section("hours")
@require_http_methods(["GET", "POST"])
def provider_hours(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = _or_404(selectors.provider_get(provider_id=provider_id))
    today = selectors.clinic_today()
    current = selectors.current_hours(provider_ids=[provider.pk], on=today).get(provider.pk, [])
    in_effect = [r for r in current if r.effective_from <= today]
    planned = [r for r in current if r.effective_from > today]
    kwargs = {
        "provider_rows": in_effect,
        "default_location": in_effect[0].location if in_effect else selectors.active_locations().first(),
    }
    form = forms.HoursGridForm(_posted(request), **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            counts = services.hours_replace(
                actor=request.user, provider=provider, blocks=form.cleaned_data["blocks"], request=request
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            changed = counts["added"] + counts["ended"] + counts["removed"]
            name = provider.get_full_name() or provider.username
            messages.success(
                request,
                f"Working hours of {name} saved, in effect from today."
                if changed
                else f"No change to the working hours of {name}.",
            )
            return redirect("clinic:provider_hours", provider_id=provider.pk)
    return _page(
        request,
        "clinic/provider_hours.html",
        {"provider": provider, "form": form, "planned": planned, "today": today},
        status=400 if form.is_bound else 200,
    )


# ------------------------------------------------------------------ appointment types
@section("types")
@require_http_methods(["GET"])
def types(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "clinic/types.html",
        {"rows": selectors.appointment_types(), "visit_types": selectors.VISIT_TYPES},
    )


@section("types")
@require_http_methods(["GET", "POST"])
def type_edit(request: HttpRequest, type_id=None) -> HttpResponse:
    obj = _or_404(selectors.appointment_type_get(type_id=type_id)) if type_id else None
    form = forms.AppointmentTypeForm(_posted(request), instance=obj)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.appointment_type_save(
                actor=request.user, data=form.cleaned_data, appointment_type=obj, request=request
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"{saved.name} saved.")
            return redirect("clinic:types")
    return _page(
        request,
        "clinic/type_form.html",
        {"form": form, "object": obj},
        status=400 if form.is_bound else 200,
    )


@section("types")
@require_POST
def type_offered(request: HttpRequest, type_id) -> HttpResponse:
    obj = _or_404(selectors.appointment_type_get(type_id=type_id))
    offered = request.POST.get("offered") == "1"
    services.appointment_type_set_offered(
        actor=request.user, appointment_type=obj, offered=offered, request=request
    )
    messages.success(
        request, f"{obj.name} is {'offered again' if offered else 'no longer offered'} when booking."
    )
    return redirect("clinic:types")


# ------------------------------------------------------------------ note templates
@section("templates")
@require_http_methods(["GET"])
def templates(request: HttpRequest) -> HttpResponse:
    rows = selectors.note_templates()
    labels = dict(selectors.VISIT_TYPES)
    groups: dict[str, list] = {}
    for t in rows:
        groups.setdefault(labels.get(t.encounter_type, t.get_encounter_type_display()), []).append(t)
    return _page(request, "clinic/templates.html", {"groups": groups})


@section("templates")
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id=None) -> HttpResponse:
    obj = _or_404(selectors.note_template_get(template_id=template_id)) if template_id else None
    form = forms.NoteTemplateForm(_posted(request), instance=obj)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.note_template_save(
                actor=request.user, data=form.cleaned_data, template=obj, request=request
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"Template \u201c{saved.name}\u201d saved.")
            return redirect("clinic:templates")
    return _page(
        request,
        "clinic/template_form.html",
        {"form": form, "object": obj},
        status=400 if form.is_bound else 200,
    )


# ------------------------------------------------------------------ units
@section("units")
@require_http_methods(["GET", "POST"])
def units(request: HttpRequest) -> HttpResponse:
    form = forms.UnitsForm(_posted(request), instance=selectors.units())
    if request.method == "POST" and form.is_valid():
        services.units_save(actor=request.user, data=form.cleaned_data, request=request)
        messages.success(request, "Units saved. Vital signs are now typed and shown in them.")
        return redirect("clinic:units")
    return _page(request, "clinic/units.html", {"form": form}, status=400 if form.is_bound else 200)
