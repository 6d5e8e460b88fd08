from django.urls import path

from . import views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<uuid:item_id>/", views.item, name="item"),
    path("<uuid:item_id>/seen/", views.seen, name="seen"),
    path("<uuid:item_id>/sign/", views.sign_off, name="sign_off"),
    path("<uuid:item_id>/forward/", views.forward, name="forward"),
    path("<uuid:item_id>/task/", views.task, name="task"),
    path("<uuid:item_id>/notify/", views.notify, name="notify"),
]
