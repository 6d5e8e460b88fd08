"""Parse the request, call a selector or a service, render. No ORM here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit import categories
from core.responses import errors_message as _errors
from patients.selectors import patient_get

from . import closing, findings, forms, selectors, selectors_results, services
from . import notes as note_writes


# ------------------------------------------------------------------ clinical
@login_required
@require_GET
def timeline(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.ENCOUNTERS,
        request=request,
    )
    try:
        page = selectors.encounters_page(patient=patient, cursor=request.GET.get("after"))
    except selectors.BadCursor:
        # A mangled "older" link: say so and show the newest page rather than fail.
        messages.warning(request, "That page link was not valid; showing the most recent encounters.")
        page = selectors.encounters_page(patient=patient)
    return render(
        request,
        "encounters/timeline.html",
        {"patient": patient, "page": page, "start_form": forms.EncounterStartForm()},
    )


@login_required
@require_POST
def encounter_start(request: HttpRequest, patient_id) -> HttpResponse:
    form = forms.EncounterStartForm(request.POST)
    if not form.is_valid():
        patient_get(
            actor=request.user,
            patient_id=patient_id,
            perm=roles.CHANGE_CLINICAL,
            category=categories.ENCOUNTER,
            request=request,
            record=False,
        )
        messages.error(request, "Choose an encounter type.")
        return redirect("encounters:timeline", patient_id=patient_id)
    enc = note_writes.encounter_start(
        actor=request.user, patient_id=patient_id, request=request, **form.cleaned_data
    )
    return redirect(enc)


def _prefix(note_id) -> str:
    return str(note_id)[:8]


def _note_form(note, *, data: dict | None = None, version: int | None = None) -> forms.NoteForm:
    values = data or {f: getattr(note, f) for f in note_writes.NOTE_SECTIONS}
    return forms.NoteForm(
        initial={
            **{f: values.get(f, "") for f in note_writes.NOTE_SECTIONS},
            "version": version or note.version,
        },
        prefix=_prefix(note.pk),
    )


def _encounter_page(
    request, encounter_id, *, conflict: dict | None = None, vitals_form=None, status: int = 200
) -> HttpResponse:
    """The encounter page. `conflict` (a refused save) = {"note_id", "data": the editor's text, "version": the
    version they edited, "current": the note as stored}: their text stays in the form, the stored version is shown
    beside it, and nothing typed is lost (for a note signed meanwhile, the text is offered as an addendum)."""
    enc = selectors.encounter_get(actor=request.user, encounter_id=encounter_id, request=request)
    units = selectors.clinic_units()
    notes = []
    unsaved = ""
    for n in selectors.encounter_notes(encounter=enc):
        mine = conflict if conflict and conflict["note_id"] == n.pk else None
        if n.signed:
            if mine:
                unsaved = "\n\n".join(
                    f"{f.capitalize()}: {mine['data'][f]}"
                    for f in note_writes.NOTE_SECTIONS
                    if (mine["data"].get(f) or "").strip() and mine["data"][f] != getattr(n, f)
                )
            notes.append({"note": n, "form": None})
        elif mine:
            notes.append(
                {
                    "note": n,
                    "form": _note_form(n, data=mine["data"], version=mine["version"]),
                    "theirs": mine["current"],
                }
            )
        else:
            notes.append({"note": n, "form": _note_form(n)})
    return render(
        request,
        "encounters/encounter_detail.html",
        {
            "enc": enc,
            "patient": enc.patient,
            "notes": notes,
            "vitals": [
                (v, selectors.vitals_rows(v, units)) for v in selectors.encounter_vitals(encounter=enc)
            ],
            "vitals_form": vitals_form or forms.VitalsForm(units=units),
            "diagnoses": selectors.encounter_diagnoses(encounter=enc),
            "problem_codes": selectors.encounter_problem_choices(encounter=enc),
            "finish_problems": closing.finish_problems(enc) if enc.status == "in_progress" else [],
            "addendum_form": forms.AddendumForm(initial={"text": unsaved} if unsaved else None),
            "unsaved": unsaved,
            "amendment_form": forms.AmendmentForm(),
            "templates": selectors.note_templates(encounter_type=enc.encounter_type),
        },
        status=status,
    )


@login_required
@require_GET
def encounter_detail(request: HttpRequest, encounter_id) -> HttpResponse:
    return _encounter_page(request, encounter_id)


@login_required
@require_POST
def note_create(request: HttpRequest, encounter_id) -> HttpResponse:
    """Start a note from the template the clinician picked ("blank" for none)."""
    choice = request.POST.get("template", "")
    try:
        note_writes.note_create(
            actor=request.user,
            encounter_id=encounter_id,
            template_id=choice if choice.isdigit() else None,
            blank=choice == "blank",
            request=request,
        )
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=encounter_id)


def _note_data(request, note_id) -> tuple[dict, int]:
    prefix = _prefix(note_id) + "-"
    data = {k.removeprefix(prefix): v for k, v in request.POST.items()}
    try:
        version = int(data.get("version", ""))
    except ValueError:
        version = -1
    return data, version


@login_required
@require_POST
def note_save(request: HttpRequest, note_id) -> HttpResponse:
    """Save a draft. htmx autosave posts here after each pause in typing and gets the status fragment back (with
    the new version out of band); Save and Sign post the whole form. A conflict answers 409 with both versions."""
    data, version = _note_data(request, note_id)
    if data.get("base_version", "").isdigit():
        # "Keep my text": the editor has seen the stored version (shown with the conflict) and replaces it.
        version = int(data["base_version"])
    try:
        note = note_writes.note_save_draft(
            actor=request.user, note_id=note_id, version=version, data=data, request=request
        )
    except note_writes.NoteConflict as exc:
        if request.htmx:
            return render(
                request,
                "encounters/_note_status.html",
                {"error": " ".join(exc.messages), "theirs": exc.current, "prefix": _prefix(note_id)},
                status=409,
            )
        messages.error(request, " ".join(exc.messages))
        conflict = {"note_id": exc.current.pk, "data": data, "version": version, "current": exc.current}
        return _encounter_page(request, exc.current.encounter_id, conflict=conflict, status=409)
    except ValidationError as exc:
        if request.htmx:
            return render(
                request,
                "encounters/_note_status.html",
                {"error": " ".join(exc.messages), "prefix": _prefix(note_id)},
                status=409,
            )
        _errors(request, exc)
        return redirect("encounters:encounter_detail", encounter_id=note_writes.note_encounter_id(note_id))
    if request.htmx:
        return render(request, "encounters/_note_status.html", {"note": note, "prefix": _prefix(note_id)})
    if "sign" in request.POST:
        try:
            note = note_writes.note_sign(
                actor=request.user, note_id=note.pk, version=note.version, request=request
            )
            messages.success(request, "Note signed.")
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, "Draft saved.")
    return redirect("encounters:encounter_detail", encounter_id=note.encounter_id)


@login_required
@require_POST
def addendum_add(request: HttpRequest, note_id) -> HttpResponse:
    try:
        add = note_writes.addendum_add(
            actor=request.user, note_id=note_id, text=request.POST.get("text", ""), request=request
        )
        messages.success(request, "Addendum added.")
        return redirect("encounters:encounter_detail", encounter_id=add.note.encounter_id)
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=note_writes.note_encounter_id(note_id))


@login_required
@require_POST
def amendment_add(request: HttpRequest, note_id) -> HttpResponse:
    try:
        note_writes.amendment_request_record(
            actor=request.user,
            note_id=note_id,
            requested_text=request.POST.get("requested_text", ""),
            request=request,
        )
        messages.success(request, "Amendment request recorded.")
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("encounters:encounter_detail", encounter_id=note_writes.note_encounter_id(note_id))


@login_required
@require_POST
def amendment_decide(request: HttpRequest, amendment_id) -> HttpResponse:
    form = forms.AmendmentDecideForm(request.POST)
    accept = form.is_valid() and form.cleaned_data["decision"] == "accept"
    try:
        am = note_writes.amendment_decide(
            actor=request.user,
            amendment_id=amendment_id,
            accept=accept,
            reason=request.POST.get("decision_reason", ""),
            request=request,
        )
        messages.success(request, f"Amendment {am.get_status_display().lower()}.")
        return redirect("encounters:encounter_detail", encounter_id=am.note.encounter_id)
    except ValidationError as exc:
        _errors(request, exc)
    return redirect(
        "encounters:encounter_detail",
        encounter_id=selectors.amendment_encounter_id(amendment_id=amendment_id),
    )


@login_required
@require_POST
def vitals_add(request: HttpRequest, encounter_id) -> HttpResponse:
    """Record vitals; a refusal shows the encounter page again with everything typed still in the form (400)."""
    enc = note_writes.encounter_for_write(
        actor=request.user, encounter_id=encounter_id, request=request, category=categories.VITALS
    )
    form = forms.VitalsForm(request.POST, units=selectors.clinic_units())
    if form.is_valid():
        try:
            findings.vitals_record(
                actor=request.user,
                patient_id=enc.patient_id,
                encounter_id=enc.pk,
                values=form.values(),
                units=form.units(),
                request=request,
            )
            messages.success(request, "Vital signs recorded.")
            return redirect("encounters:encounter_detail", encounter_id=enc.pk)
        except ValidationError as exc:
            form.add_error(None, exc)
    errors = " ".join(e for es in form.errors.values() for e in es)
    messages.error(request, f"The vital signs were not recorded: {errors}")
    return _encounter_page(request, enc.pk, vitals_form=form, status=400)


@login_required
@require_GET
def vitals_trend(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.VITALS,
        request=request,
    )
    trend = selectors.vitals_trend(
        patient=patient, measure=request.GET.get("field", "bp"), units=selectors.clinic_units()
    )
    return render(request, "encounters/vitals_trend.html", {"patient": patient, "trend": trend})


@login_required
@require_POST
def diagnoses(request: HttpRequest, encounter_id) -> HttpResponse:
    """Add a diagnosis to the visit (code), make one primary or remove one (action, diagnosis)."""
    action = request.POST.get("action", "add")
    try:
        if action == "add":
            dx = closing.diagnosis_add(
                actor=request.user,
                encounter_id=encounter_id,
                code=request.POST.get("code", ""),
                request=request,
            )
            messages.success(request, f"Diagnosis {dx.code_id} added.")
        else:
            closing.diagnosis_change(
                actor=request.user,
                encounter_id=encounter_id,
                diagnosis_id=request.POST.get("diagnosis", ""),
                action=action,
                request=request,
            )
            messages.success(request, "Diagnoses updated.")
    except ValidationError as exc:
        _errors(request, exc)
    return redirect(reverse("encounters:encounter_detail", args=[encounter_id]) + "#diagnoses")


@login_required
@require_POST
def encounter_finish(request: HttpRequest, encounter_id) -> HttpResponse:
    try:
        closing.encounter_finish(actor=request.user, encounter_id=encounter_id, request=request)
        messages.success(request, "Visit finished.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("encounters:encounter_detail", encounter_id=encounter_id)


def _clinical_list(
    request, patient_id, *, category: str, form_class, add, added: str, page: str, template: str, rows
) -> HttpResponse:
    """A clinical list page (problems, medications, immunizations): read through the door with the page's data
    category; those who may document add to it (POST, then redirect back)."""
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=category,
        request=request,
    )
    form = form_class(request.POST or None)
    if request.method == "POST":
        if not patient.access.can_document:
            raise PermissionDenied
        if form.is_valid():
            try:
                add(actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, added)
                return redirect(page, patient_id=patient.pk)
    return render(
        request,
        template,
        {
            "patient": patient,
            "form": form,
            "rows": rows(patient=patient),
            "can_document": patient.access.can_document,
            "today": timezone.localdate(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def problems(request: HttpRequest, patient_id) -> HttpResponse:
    return _clinical_list(
        request,
        patient_id,
        category=categories.PROBLEMS,
        form_class=forms.ProblemForm,
        add=findings.problem_add,
        added="Problem added.",
        page="encounters:problems",
        template="encounters/problems.html",
        rows=selectors.problems_all,
    )


def _row_or_back(request, template: str, context: dict, default: str, done: str) -> HttpResponse:
    """htmx: the changed table row (its buttons, and any error inside it); otherwise back to the list with a
    message. The row is only ever rendered after a write the service allowed, or for a reader of the chart."""
    if request.htmx:
        return render(request, template, {**context, "can_document": True, "today": timezone.localdate()})
    if context.get("errors"):
        messages.error(request, " ".join(context["errors"]))
    else:
        messages.success(request, done)
    return redirect(default)


@login_required
@require_POST
def problem_status(request: HttpRequest, problem_id) -> HttpResponse:
    """Resolve, inactivate, reactivate or mark entered in error (buttons on the problem list)."""
    form = forms.ProblemStatusForm(request.POST)
    errors = []
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        problem = None
    else:
        try:
            problem = findings.problem_status_set(
                actor=request.user,
                problem_id=problem_id,
                status=form.cleaned_data["status"],
                resolved_date=form.cleaned_data["resolved_date"],
                request=request,
            )
        except ValidationError as exc:
            errors, problem = exc.messages, None
    if problem is None:
        problem = selectors.problem_get(actor=request.user, problem_id=problem_id, request=request)
    return _row_or_back(
        request,
        "encounters/_problem_row.html",
        {"p": problem, "errors": errors},
        reverse("encounters:problems", args=[problem.patient_id]),
        f"{problem.description}: {problem.get_status_display().lower()}.",
    )


@login_required
@require_GET
def icd10_search(request: HttpRequest) -> HttpResponse:
    if roles.VIEW_CLINICAL not in roles.patient_permissions_for_roles(roles.user_roles(request.user)):
        raise PermissionDenied
    return render(
        request,
        "encounters/_icd10_results.html",
        {"rows": selectors.icd10_search(q=request.GET.get("q") or request.GET.get("code", ""))},
    )


@login_required
@require_GET
def allergen_search(request: HttpRequest) -> HttpResponse:
    """Drug ingredients from the medication catalog, for the allergy form (htmx fragment; click fills the form)."""
    if roles.VIEW_CLINICAL not in roles.patient_permissions_for_roles(roles.user_roles(request.user)):
        raise PermissionDenied
    return render(
        request,
        "encounters/_allergen_results.html",
        {
            "rows": selectors.allergen_search(
                q=request.GET.get("substance_text", "") or request.GET.get("q", "")
            )
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def allergies(request: HttpRequest, patient_id) -> HttpResponse:
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.ALLERGIES,
        request=request,
    )
    form = forms.AllergyForm(request.POST or None)
    if request.method == "POST":
        if not patient.access.can_document:
            raise PermissionDenied
        try:
            if "nka" in request.POST:
                services.allergy_none_known(actor=request.user, patient_id=patient.pk, request=request)
                messages.success(request, "Recorded: no known allergies.")
                return redirect("encounters:allergies", patient_id=patient.pk)
            if form.is_valid():
                services.allergy_record(
                    actor=request.user, patient_id=patient.pk, request=request, **form.cleaned_data
                )
                messages.success(request, "Allergy recorded.")
                return redirect("encounters:allergies", patient_id=patient.pk)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
    return render(
        request,
        "encounters/allergies.html",
        {
            "patient": patient,
            "form": form,
            "rows": selectors.allergies_all(patient=patient),
            "statuses": forms.AllergyStatusForm.base_fields["status"].choices,
        },
    )


@login_required
@require_POST
def allergy_status(request: HttpRequest, allergy_id) -> HttpResponse:
    """Change an allergy's status. The whole page reloads (htmx: HX-Refresh) so the banner shows the change."""
    form = forms.AllergyStatusForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose a status.")
        allergy = services.allergy_status_set(
            actor=request.user, allergy_id=allergy_id, status=form.cleaned_data["status"], request=request
        )
        messages.success(request, f"{allergy.substance_text}: {allergy.get_status_display().lower()}.")
        patient_id = allergy.patient_id
    except ValidationError as exc:
        _errors(request, exc)
        patient_id = selectors.allergy_get(
            actor=request.user, allergy_id=allergy_id, request=request
        ).patient_id
    url = reverse("encounters:allergies", args=[patient_id])
    if request.htmx:
        resp = HttpResponse(status=204)
        resp["HX-Refresh"] = "true"
        return resp
    return redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def medications(request: HttpRequest, patient_id) -> HttpResponse:
    return _clinical_list(
        request,
        patient_id,
        category=categories.MEDICATIONS,
        form_class=forms.MedicationForm,
        add=services.medication_record,
        added="Medication added.",
        page="encounters:medications",
        template="encounters/medications.html",
        rows=selectors.medications_all,
    )


@login_required
@require_POST
def medication_stop(request: HttpRequest, medication_id) -> HttpResponse:
    """Stop a medication (or mark it completed / entered in error), from the medication list."""
    form = forms.MedicationStopForm(request.POST)
    errors, med = [], None
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
    else:
        try:
            med = services.medication_stop(
                actor=request.user,
                medication_id=medication_id,
                status=form.cleaned_data["status"],
                stopped_on=form.cleaned_data["stopped_on"],
                request=request,
            )
        except ValidationError as exc:
            errors = exc.messages
    if med is None:
        med = selectors.medication_get(actor=request.user, medication_id=medication_id, request=request)
    return _row_or_back(
        request,
        "encounters/_medication_row.html",
        {"m": med, "errors": errors},
        reverse("encounters:medications", args=[med.patient_id]),
        f"{med.name}: {med.get_status_display().lower()}.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def immunizations(request: HttpRequest, patient_id) -> HttpResponse:
    """The immunization history; clinicians record a vaccine by hand (CVX code, date, lot)."""
    return _clinical_list(
        request,
        patient_id,
        category=categories.IMMUNIZATIONS,
        form_class=forms.ImmunizationForm,
        add=findings.immunization_record,
        added="Immunization recorded.",
        page="encounters:immunizations",
        template="encounters/immunizations.html",
        rows=selectors.immunizations_all,
    )


@login_required
@require_GET
def results(request: HttpRequest, patient_id) -> HttpResponse:
    """Laboratory and other results, grouped by test, newest first (read-only: they arrive by import); with
    ?code=LOINC, that test's trend."""
    patient = patient_get(
        actor=request.user,
        patient_id=patient_id,
        perm=roles.VIEW_CLINICAL,
        category=categories.RESULTS,
        request=request,
    )
    if "code" in request.GET:  # one test's trend, drawn (uPlot) beside its table
        trend = selectors_results.result_trend(patient=patient, code=request.GET["code"])
        return render(request, "encounters/result_trend.html", {"patient": patient, "trend": trend})
    return render(
        request,
        "encounters/results.html",
        {"patient": patient, "groups": selectors.results_all(patient=patient)},
    )
