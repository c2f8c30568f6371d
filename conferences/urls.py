from django.urls import path

from conferences import views
from conferences.minutes.urls import urlpatterns as minutes_urlpatterns

app_name = "conferences"
urlpatterns = [
    path("", views.conference_list, name="conference-list"),
    path("new/", views.conference_create, name="conference-create"),
    path("<int:pk>/", views.conference_detail, name="conference-detail"),
    path("<int:pk>/acknowledge/", views.conference_acknowledge, name="conference-acknowledge"),
    path("<int:pk>/live/", views.conference_live, name="conference-live"),
    path("<int:pk>/start/", views.conference_start, name="conference-start"),
    path("<int:pk>/close/", views.conference_close, name="conference-close"),
    path("<int:pk>/apologies/", views.apologies, name="apologies"),
    path("<int:pk>/feedback/", views.feedback, name="feedback"),
    path("<int:pk>/community-issues/", views.community_issues, name="community-issues"),
    path("<int:pk>/feedback/results/", views.feedback_results, name="feedback-results"),
    path("<int:pk>/cases/<int:link_pk>/prep/", views.prep_edit, name="prep-edit"),
    path("<int:pk>/cases/<int:link_pk>/asks/", views.prep_ask_add, name="prep-ask-add"),
    path("<int:pk>/cases/<int:link_pk>/move/", views.move_to_multilayer, name="move-to-multilayer"),
    path("<int:pk>/asks/<int:ask_pk>/", views.prep_ask_answer, name="ask-answer"),
    *minutes_urlpatterns,
]
