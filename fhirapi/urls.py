from django.urls import path, re_path

from . import views

app_name = "fhirapi"
urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path(".well-known/smart-configuration", views.smart_configuration, name="smart_configuration"),
    path("Patient/<str:patient_id>/$everything", views.patient_everything, name="everything"),
    # Resource types come from the registry (resources.py); an unknown type answers a 404 OperationOutcome.
    path("<str:resource_type>/<str:resource_id>", views.resource_read, name="read"),
    path("<str:resource_type>", views.resource_search, name="search"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not_found"),
]
