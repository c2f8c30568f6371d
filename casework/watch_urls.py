from django.urls import path

from casework import watch_views as views

app_name = "watch"
urlpatterns = [
    path("", views.watch_home, name="home"),
    path("concerns/new/", views.concern_report, name="concern-report"),
    path("concerns/mine/", views.my_concerns, name="my-concerns"),
    path("concerns/", views.concern_queue, name="concern-queue"),
    path("concerns/<int:pk>/", views.concern_triage, name="concern-triage"),
    path("register/", views.watch_register, name="register"),
    path("register/area/<int:area_pk>/pdf/", views.register_pack, name="register-pack"),
    path("cases/<int:pk>/visit/", views.visit_add, name="visit-add"),
    path("cases/<int:pk>/watchers/", views.watch_assign, name="watch-assign"),
    path("cases/<int:pk>/plan/", views.evacuation_plan, name="evacuation-plan"),
    path("disaster/", views.disaster_list, name="disaster-list"),
    path("disaster/area/<int:area_pk>/pdf/", views.disaster_pack, name="disaster-pack"),
    path("declarations/", views.declaration_list, name="declaration-list"),
    path("declarations/<int:pk>/", views.declaration_detail, name="declaration-detail"),
    path("declarations/<int:pk>/safety/", views.safety_check, name="safety-check"),
    path("declarations/<int:pk>/safety/mark/", views.safety_mark, name="safety-mark"),
    path("declarations/<int:pk>/tally/", views.safety_tally, name="safety-tally"),
    path("emergency/", views.break_glass, name="break-glass"),
    path("emergency/review/", views.break_glass_queue, name="break-glass-queue"),
    path("emergency/<int:pk>/", views.break_glass_review, name="break-glass-review"),
]
