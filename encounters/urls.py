from django.urls import path

from . import views

app_name = "encounters"
urlpatterns = [path("", views.day_list, name="day_list")]
