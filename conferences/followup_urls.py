from django.urls import path

from conferences import followup_views as views

app_name = "followups"
urlpatterns = [
    path("", views.my_followups, name="mine"),
    path("overview/", views.overview, name="overview"),
    path("calendar/", views.calendar_settings, name="calendar"),
    path("calendar/<str:token>.ics", views.calendar, name="calendar-feed"),
    path("case/<int:case_pk>/new/", views.action_create, name="create"),
    path("<int:pk>/", views.action_detail, name="detail"),
    path("<int:pk>/status/", views.action_status, name="status"),
]
