from django.urls import path

from . import export_jobs, views

app_name = "export"
urlpatterns = [
    path("patients/<uuid:patient_id>/ehi.zip", views.ehi_export, name="ehi"),
    path("ehi-format/", views.ehi_format, name="ehi_format"),
    path("jobs/", export_jobs.exports, name="jobs"),
]
