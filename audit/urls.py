from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("", views.reports, name="reports"),
    path("patient/", views.patient_report, name="patient_report"),
    path("user/", views.user_report, name="user_report"),
    path("emergency-access/", views.break_glass_report, name="break_glass_report"),
]
