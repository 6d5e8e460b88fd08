from django.urls import path

from . import views

app_name = "prescriptions"
urlpatterns = [path("inbox/", views.inbox, name="inbox"), path("attention/", views.attention, name="attention")]
