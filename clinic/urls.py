from django.urls import path

from . import views

app_name = "clinic"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("locations/", views.locations, name="locations"),
    path("locations/<uuid:location_id>/", views.location, name="location"),
    path("locations/<uuid:location_id>/active/", views.location_active, name="location_active"),
    path("locations/<uuid:location_id>/rooms/", views.room_add, name="room_add"),
    path("locations/<uuid:location_id>/rooms/<uuid:room_id>/", views.room, name="room"),
    path("hours/", views.hours, name="hours"),
    path("hours/<int:provider_id>/", views.provider_hours, name="provider_hours"),
    path("types/", views.types, name="types"),
    path("types/new/", views.type_edit, name="type_new"),
    path("types/<uuid:type_id>/", views.type_edit, name="type_edit"),
    path("types/<uuid:type_id>/offered/", views.type_offered, name="type_offered"),
    path("templates/", views.templates, name="templates"),
    path("templates/new/", views.template_edit, name="template_new"),
    path("templates/<int:template_id>/", views.template_edit, name="template_edit"),
    path("units/", views.units, name="units"),
]
