from django.urls import path

from . import views, views_calendar

# Under /schedule/ (ehr/urls.py), the paths they had as part of encounters.
app_name = "scheduling"
urlpatterns = [
    path("", views_calendar.day_list, name="day_list"),
    path("week/", views_calendar.week, name="week"),
    path("slots/", views.slots, name="slots"),
    path("book/", views_calendar.book_slot, name="book_slot"),
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
    path(
        "appointments/<uuid:appointment_id>/status/",
        views_calendar.appointment_advance,
        name="appointment_advance",
    ),
]
