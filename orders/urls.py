from django.urls import path

from . import views

app_name = "orders"
urlpatterns = [
    path("patients/<uuid:patient_id>/", views.patient_orders, name="patient_orders"),
    path("patients/<uuid:patient_id>/new/", views.order_new, name="new"),
    path("patients/<uuid:patient_id>/in-office/", views.in_office, name="in_office"),
    path("<uuid:order_id>/", views.order_detail, name="order"),
    path("<uuid:order_id>/cancel/", views.order_cancel, name="cancel"),
    path("<uuid:order_id>/requisition.pdf", views.requisition, name="requisition"),
    path("review/", views.review, name="review"),
    path("results/<uuid:report_id>/", views.report_detail, name="report"),
    path("results/<uuid:report_id>/sign-off/", views.report_sign_off, name="sign_off"),
    path("unmatched/", views.unmatched, name="unmatched"),
    path("unmatched/<uuid:message_id>/", views.unmatched_detail, name="unmatched_detail"),
]
