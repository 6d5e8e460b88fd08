from django.urls import path, re_path

from . import bulk_views, views, write_views

app_name = "fhirapi"
urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path(".well-known/smart-configuration", views.smart_configuration, name="smart_configuration"),
    # Bulk Data export (fhirapi/bulk_views.py)
    path("$export", bulk_views.export_system, name="export_system"),
    path("Patient/$export", bulk_views.export_patients, name="export_patients"),
    path("Group/<str:group_id>/$export", bulk_views.export_group, name="export_group"),
    path("$export-status/<uuid:job_id>", bulk_views.export_status, name="export_status"),
    path("$export-file/<uuid:job_id>/<str:resource_type>.ndjson", bulk_views.export_file, name="export_file"),
    path("Patient/<str:patient_id>/$everything", views.patient_everything, name="everything"),
    # Writes (write_views.py): POST to the base (transaction, batch), vread and history; GET goes on to views.py.
    path("", write_views.root, name="root"),
    path("<str:resource_type>/<str:resource_id>/_history", write_views.history_instance, name="history"),
    path("<str:resource_type>/<str:resource_id>/_history/<str:version_id>", write_views.vread, name="vread"),
    # Resource types come from the registry (resources.py); an unknown type answers a 404 OperationOutcome.
    path("<str:resource_type>/<str:resource_id>", write_views.instance_endpoint, name="read"),
    path("<str:resource_type>", write_views.type_endpoint, name="search"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not_found"),
]
