from django.urls import path

from casework import report_views, views

app_name = "casework"
urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("new/", views.case_create, name="case-create"),
    path("<int:pk>/", views.case_detail, name="case-detail"),
    path("<int:pk>/edit/", views.case_edit, name="case-edit"),
    path("<int:pk>/members/new/", views.member_edit, name="member-add"),
    path("<int:pk>/members/<int:member_pk>/", views.member_edit, name="member-edit"),
    path("<int:pk>/timeline/new/", views.chronology_add, name="chronology-add"),
    path("<int:pk>/shares/", views.share_list, name="share-list"),
    path("<int:pk>/shares/<int:share_pk>/", views.share_edit, name="share-edit"),
    path("<int:pk>/shares/<int:share_pk>/revoke/", views.share_revoke, name="share-revoke"),
    path("<int:pk>/consents/", views.consent_list, name="consent-list"),
    path(
        "<int:pk>/consents/<int:consent_pk>/withdraw/",
        views.consent_withdraw,
        name="consent-withdraw",
    ),
    path("<int:pk>/access-log/", views.case_access_log, name="case-access-log"),
    # The unmet-needs report (政策提言): anonymised counts for council managers.
    path("reports/", report_views.report, name="report"),
    path("reports/download.<str:fmt>", report_views.report_download, name="report-download"),
]
