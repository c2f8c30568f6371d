"""Project-level views: home, health, dashboard, accounts."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.i18n import set_language as django_set_language

from casework.selectors import dashboard_cases
from conferences.followup_selectors import my_followups, unread_notices
from conferences.selectors import asks_awaiting, upcoming_for
from config.accounts import display_name, memberships_of
from config.forms import LoginForm
from config.session_guard import sessions_changed


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return redirect("login")


async def _channel_roundtrip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer")
    # A one-off channel of its own, not a process-local one: those are kept for the sockets
    # that receive on them until they end (config/layers.py).
    token = uuid.uuid4().hex
    channel = f"healthz.{token}"
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    layer = get_channel_layer()
    try:
        async_to_sync(_channel_roundtrip)()
        checks["channel_layer"] = {"ok": True, "backend": type(layer).__name__}
    except Exception as exc:
        checks["channel_layer"] = {
            "ok": False,
            "backend": type(layer).__name__,
            "error": type(exc).__name__,
        }
    ok = all(c["ok"] for c in checks.values())
    body = {
        "status": "ok" if ok else "error",
        "checks": checks,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if ok else 503)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Log out, then tell the person's open sockets to check their session (they close)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user_id = request.user.pk if request.user.is_authenticated else None
        response = super().post(request, *args, **kwargs)
        if user_id is not None:
            sessions_changed(user_id)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """A new password ends every other session: their sockets close at once."""

    template_name = "accounts/password_change.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        sessions_changed(form.user.pk)
        return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    conferences = list(upcoming_for(request.user))
    # Asks to the reader's agency waiting for its answer before the meeting.
    waiting = asks_awaiting(request.user, conferences)
    for conference in conferences:
        conference.asks_waiting = waiting.get(conference.pk, 0)  # type: ignore[attr-defined]
    context = {
        "display_name": display_name(request.user),
        "memberships": memberships_of(request.user),
        "cases": dashboard_cases(request.user),
        "conferences": conferences,
        "followups": my_followups(request.user),
        "followup_notices": unread_notices(request.user).count(),
    }
    return render(request, "dashboard.html", context)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    context = {
        "display_name": display_name(request.user),
        "memberships": memberships_of(request.user),
    }
    return render(request, "accounts/profile.html", context)


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch; a logged-in person's choice also sets their mail language."""
    response = django_set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        from conferences.actions import user_language_remember

        user_language_remember(user=request.user, language=request.POST.get("language", ""))
    return response
