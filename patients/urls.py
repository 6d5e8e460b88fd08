from django.urls import path

from . import views, views_coverage

app_name = "patients"

urlpatterns = [
    path("", views.patient_search, name="search"),
    path("register/", views.patient_register, name="register"),
    path("emergency-access/", views.break_glass, name="break_glass"),
    path("<uuid:patient_id>/", views.patient_detail, name="detail"),
    path("<uuid:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<uuid:patient_id>/care-team/add/", views.care_team_add, name="care_team_add"),
    path(
        "<uuid:patient_id>/care-team/<int:member_id>/remove/", views.care_team_remove, name="care_team_remove"
    ),
    path("<uuid:patient_id>/insurance/", views_coverage.coverage_page, name="insurance"),
    path(
        "<uuid:patient_id>/insurance/<uuid:coverage_id>/end/",
        views_coverage.coverage_end,
        name="insurance_end",
    ),
    path(
        "<uuid:patient_id>/insurance/<uuid:coverage_id>/card/<str:side>/",
        views_coverage.coverage_card,
        name="insurance_card",
    ),
    path("<uuid:patient_id>/merge/", views.patient_merge, name="merge"),
    path("<uuid:patient_id>/merge/<uuid:merge_id>/undo/", views.patient_unmerge, name="unmerge"),
]
