from django.urls import path

from . import views

# Under /schedule/ beside the scheduling app's pages (ehr/urls.py), as before the two were split.
app_name = "encounters"
urlpatterns = [
    path("patients/<uuid:patient_id>/encounters/", views.timeline, name="timeline"),
    path("patients/<uuid:patient_id>/encounters/new/", views.encounter_start, name="encounter_start"),
    path("patients/<uuid:patient_id>/vitals/", views.vitals_trend, name="vitals_trend"),
    path("patients/<uuid:patient_id>/problems/", views.problems, name="problems"),
    path("patients/<uuid:patient_id>/allergies/", views.allergies, name="allergies"),
    path("patients/<uuid:patient_id>/medications/", views.medications, name="medications"),
    path("patients/<uuid:patient_id>/immunizations/", views.immunizations, name="immunizations"),
    path("patients/<uuid:patient_id>/results/", views.results, name="results"),
    path("problems/<uuid:problem_id>/status/", views.problem_status, name="problem_status"),
    path("allergies/<uuid:allergy_id>/status/", views.allergy_status, name="allergy_status"),
    path("medications/<uuid:medication_id>/stop/", views.medication_stop, name="medication_stop"),
    path("icd10/", views.icd10_search, name="icd10_search"),
    path("allergens/", views.allergen_search, name="allergen_search"),
    path("encounters/<uuid:encounter_id>/", views.encounter_detail, name="encounter_detail"),
    path("encounters/<uuid:encounter_id>/notes/new/", views.note_create, name="note_create"),
    path("encounters/<uuid:encounter_id>/vitals/", views.vitals_add, name="vitals_add"),
    path("encounters/<uuid:encounter_id>/diagnoses/", views.diagnoses, name="diagnoses"),
    path("encounters/<uuid:encounter_id>/finish/", views.encounter_finish, name="encounter_finish"),
    path("notes/<uuid:note_id>/save/", views.note_save, name="note_save"),
    path("notes/<uuid:note_id>/addenda/", views.addendum_add, name="addendum_add"),
    path("notes/<uuid:note_id>/amendments/", views.amendment_add, name="amendment_add"),
    path("amendments/<uuid:amendment_id>/decide/", views.amendment_decide, name="amendment_decide"),
]
