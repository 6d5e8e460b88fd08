from django.urls import path

from . import views

app_name = "encounters"
urlpatterns = [
    # Scheduling (front desk)
    path("", views.day_list, name="day_list"),
    path("week/", views.week, name="week"),
    path("slots/", views.slots, name="slots"),
    path("waitlist/", views.waitlist, name="waitlist"),
    path("waitlist/<uuid:entry_id>/accept/", views.waitlist_accept, name="waitlist_accept"),
    path("waitlist/<uuid:entry_id>/remove/", views.waitlist_remove, name="waitlist_remove"),
    path("waitlist/<uuid:entry_id>/decline/", views.waitlist_decline, name="waitlist_decline"),
    path("time-off/", views.time_off, name="time_off"),
    path("time-off/<int:time_off_id>/delete/", views.time_off_delete, name="time_off_delete"),
    path("providers/<int:provider_id>/calendar.ics", views.provider_ical, name="provider_ical"),
    path("calendar-feed/", views.calendar_feed, name="calendar_feed"),
    path("feeds/<str:token>/calendar.ics", views.provider_feed_ics, name="provider_feed_ics"),
    path("patients/<uuid:patient_id>/", views.patient_schedule, name="patient_schedule"),
    path("patients/<uuid:patient_id>/book/", views.appointment_book, name="appointment_book"),
    path("patients/<uuid:patient_id>/waitlist/", views.waitlist_add, name="waitlist_add"),
    path("appointments/<uuid:appointment_id>/", views.appointment_detail, name="appointment_detail"),
    path("appointments/<uuid:appointment_id>/move/", views.appointment_move, name="appointment_move"),
    path("appointments/<uuid:appointment_id>/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path("appointments/<uuid:appointment_id>/status/", views.appointment_advance, name="appointment_advance"),
    # Clinical record
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
    path("notes/<uuid:note_id>/save/", views.note_save, name="note_save"),
    path("notes/<uuid:note_id>/addenda/", views.addendum_add, name="addendum_add"),
    path("notes/<uuid:note_id>/amendments/", views.amendment_add, name="amendment_add"),
    path("amendments/<uuid:amendment_id>/decide/", views.amendment_decide, name="amendment_decide"),
]
