from django.contrib.auth import views as auth_views
from django.urls import path

from config import twofactor, views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("me/", views.profile, name="profile"),
    path("2fa/setup/", twofactor.setup, name="twofactor-setup"),
    path("2fa/verify/", twofactor.verify, name="twofactor-verify"),
]
