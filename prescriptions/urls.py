from django.urls import path

from . import views

app_name = "prescriptions"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<uuid:item_id>/", views.inbox_item, name="inbox_item"),
    path("inbox/<uuid:item_id>/respond/", views.inbox_respond, name="inbox_respond"),
    path("attention/", views.attention, name="attention"),
    path("attention/<uuid:message_id>/retry/", views.attention_retry, name="attention_retry"),
    path("attention/<uuid:message_id>/resolve/", views.attention_resolve, name="attention_resolve"),
    path("inbound/", views.inbound, name="inbound"),
    path("pharmacies/", views.pharmacy_directory, name="pharmacy_directory"),
    path("medications/search/", views.medication_search, name="medication_search"),
    path("patient/<uuid:patient_id>/new/", views.prescription_new, name="new"),
    path("patient/<uuid:patient_id>/pharmacy/", views.pharmacy_choose, name="pharmacy_choose"),
    path("<uuid:prescription_id>/", views.prescription_detail, name="detail"),
    path("<uuid:prescription_id>/status/", views.prescription_status, name="status"),
    path("<uuid:prescription_id>/sign/", views.prescription_sign, name="sign"),
    path("<uuid:prescription_id>/cancel/", views.prescription_cancel, name="cancel"),
    path("<uuid:prescription_id>/print/", views.prescription_print, name="print"),
    path("<uuid:prescription_id>/pdf/", views.prescription_pdf, name="pdf"),
]
