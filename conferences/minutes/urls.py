from django.urls import path

from conferences.minutes import views

# Included in conferences/urls.py (namespace "conferences").
urlpatterns = [
    path("<int:pk>/minutes/draft/", views.minutes_draft, name="minutes-draft"),
    path("<int:pk>/minutes/v<int:number>/", views.minutes_version, name="minutes-version"),
    path(
        "<int:pk>/minutes/v<int:number>/pdf/<slug:variant>/",
        views.minutes_pdf,
        name="minutes-pdf",
    ),
    path("<int:pk>/minutes/ledger/", views.minutes_ledger, name="minutes-ledger"),
    path(
        "cases/<int:case_pk>/minutes-ledger/", views.case_minutes_ledger, name="case-minutes-ledger"
    ),
]
