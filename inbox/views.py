"""The clinical inbox: /inbox/ (a queue: mine or a team's, filtered by kind), one item opened in place (htmx),
and its actions. Views parse, call a selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .forms import TASK_PRESETS, ForwardForm, NotifyForm, SignOffForm, TaskForm


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    page = selectors.inbox_page(
        actor=request.user,
        queue=request.GET.get("queue", selectors.MINE)[:20],
        kind=request.GET.get("kind", "")[:30],
        request=request,
    )
    return render(request, "inbox/inbox.html", {"page": page})


def _panel_context(request, item, *, forms: dict | None = None, errors=(), done: str = "") -> dict:
    """The opened item: its history, the patient notices, and the action forms (fresh unless given)."""
    candidates = selectors.forward_candidates(actor=request.user)
    forms = forms or {}
    today = timezone.localdate()
    return {
        "item": item,
        "open": True,
        "done": done,
        "errors": list(errors),
        "history": selectors.item_history(item=item),
        "notices": selectors.item_notices(item=item),
        "sign_form": forms.get("sign") or SignOffForm(),
        "forward_form": forms.get("forward") or ForwardForm(candidates=candidates),
        "task_form": forms.get("task")
        or TaskForm(candidates=candidates, me=request.user, initial={"due": today}),
        "notify_form": forms.get("notify") or NotifyForm(),
        "presets": [(label, today + timezone.timedelta(days=days)) for label, days in TASK_PRESETS],
    }


@login_required
@require_GET
def item(request: HttpRequest, item_id) -> HttpResponse:
    """One item opened: in place in the list (htmx), or as a page of its own."""
    found = selectors.item_get(actor=request.user, item_id=item_id, request=request)
    context = _panel_context(request, found)
    if request.htmx:
        return render(request, "inbox/_item.html", context)
    return render(request, "inbox/item.html", context)


@login_required
@require_POST
def seen(request: HttpRequest, item_id) -> HttpResponse:
    """The page shows the item: it is no longer new (htmx posts this when the item opens)."""
    services.item_seen(actor=request.user, item_id=item_id, request=request)
    return HttpResponse(status=204)


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


def _form_errors(form) -> list[str]:
    return [e for errs in form.errors.values() for e in errs]


def _answer(request, item_id, *, done: str, changed=None, errors=(), forms=None) -> HttpResponse:
    """htmx: the item's row again (closed with a line saying what happened, or open with the errors); otherwise
    back to the inbox with a message (or the item's page with the errors, 400)."""
    if errors:
        # Read again through the door (the services refused before changing anything).
        found = selectors.item_get(actor=request.user, item_id=item_id, request=request, record=False)
        context = _panel_context(request, found, forms=forms, errors=errors)
        if request.htmx:
            return render(request, "inbox/_item.html", context)
        return render(request, "inbox/item.html", context, status=400)
    if request.htmx:
        # The row closes with a line saying what happened (the item may no longer be in this user's queue).
        return render(request, "inbox/_item.html", {"item": changed, "open": False, "done": done})
    messages.success(request, done)
    return redirect("inbox:inbox")


@login_required
@require_POST
def sign_off(request: HttpRequest, item_id) -> HttpResponse:
    form = SignOffForm(request.POST)
    if not form.is_valid():
        return _answer(request, item_id, done="", errors=_form_errors(form), forms={"sign": form})
    try:
        changed = services.item_sign_off(
            actor=request.user, item_id=item_id, comment=form.cleaned_data["comment"], request=request
        )
    except ValidationError as exc:
        return _answer(request, item_id, done="", errors=_errors(exc), forms={"sign": form})
    return _answer(request, item_id, done="Signed off.", changed=changed)


@login_required
@require_POST
def forward(request: HttpRequest, item_id) -> HttpResponse:
    form = ForwardForm(request.POST, candidates=selectors.forward_candidates(actor=request.user))
    if not form.is_valid():
        return _answer(request, item_id, done="", errors=_form_errors(form), forms={"forward": form})
    try:
        moved = services.item_forward(
            actor=request.user,
            item_id=item_id,
            to_user_id=form.cleaned_data["to_user"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except ValidationError as exc:
        return _answer(request, item_id, done="", errors=_errors(exc), forms={"forward": form})
    name = moved.assignee.get_full_name() or moved.assignee.get_username()
    return _answer(request, item_id, done=f"Forwarded to {name}.", changed=moved)


@login_required
@require_POST
def task(request: HttpRequest, item_id) -> HttpResponse:
    candidates = selectors.forward_candidates(actor=request.user)
    form = TaskForm(request.POST, candidates=candidates, me=request.user)
    if not form.is_valid():
        return _answer(request, item_id, done="", errors=_form_errors(form), forms={"task": form})
    data = form.cleaned_data
    try:
        made = services.task_create(
            actor=request.user,
            item_id=item_id,
            title=data["title"],
            due=data["due"],
            assignee_id=data["assignee"],
            request=request,
        )
    except ValidationError as exc:
        return _answer(request, item_id, done="", errors=_errors(exc), forms={"task": form})
    due = f", due {made.due_at:%m/%d/%Y}" if made.due_at else ""
    owner = "you" if made.assignee_id == request.user.pk else made.assignee.get_full_name()
    return _reopened(request, item_id, f"Task created for {owner}{due}: {made.title}")


@login_required
@require_POST
def notify(request: HttpRequest, item_id) -> HttpResponse:
    form = NotifyForm(request.POST)
    if not form.is_valid():
        return _answer(request, item_id, done="", errors=_form_errors(form), forms={"notify": form})
    try:
        services.patient_notify(
            actor=request.user, item_id=item_id, message=form.cleaned_data["message"], request=request
        )
    except ValidationError as exc:
        return _answer(request, item_id, done="", errors=_errors(exc), forms={"notify": form})
    return _reopened(request, item_id, "Patient notice saved: pending delivery (no patient portal yet).")


def _reopened(request, item_id, done: str) -> HttpResponse:
    """After an action that leaves the item open (a task, a notice): the item stays open, saying what was done."""
    if not request.htmx:
        messages.success(request, done)
        return redirect("inbox:inbox")
    found = selectors.item_get(actor=request.user, item_id=item_id, request=request, record=False)
    return render(request, "inbox/_item.html", _panel_context(request, found, done=done))
