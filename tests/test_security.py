"""Production security: check --deploy, headers, CSP without inline code, log-in throttling,
two-factor log-in for coordinators and administrators, idle session expiry (HTTP and
WebSockets)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.asgi import application
from tests.factories import PASSWORD, UserFactory
from tests.twofactor import confirmed_device, current_token

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
HOST = (b"host", b"127.0.0.1:8000")


# --- deployment checks -----------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings():
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DEBUG", "SECURE_", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_", "DJANGO_ALLOW_ASYNC")
        )
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="kT3v9-QeWl0pZr8Xb2sJdN5yHc7uFgA1mVoE4iLxKqB6tRw_Ys-Pn0Zj9aUhMcD",
        ALLOWED_HOSTS="otagai.example.jp",
        CSRF_TRUSTED_ORIGINS="https://otagai.example.jp",
        EMAIL_HOST="smtp.example.jp",  # production mails through SMTP (console is dev-only)
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- headers and CSP -------------------------------------------------------------------------


@pytest.mark.django_db
def test_security_headers_present(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


@pytest.mark.django_db
def test_hsts_on_https(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_cookies_http_only_and_session_ends_with_the_browser(client):
    response = client.post(reverse("login"), {"username": "nobody", "password": "x"})
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["httponly"]
    user = UserFactory(username="cookie-person")
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"]
    assert session["samesite"] == "Lax"
    assert not session["max-age"]  # a browser-session cookie; the server ends it when idle


def test_production_cookie_settings_are_secure():
    # Settings read DEBUG at import; the deploy check above runs the DEBUG=0 module. Here: the
    # module's rule, so that a refactor cannot quietly drop it.
    text = (ROOT / "config" / "settings.py").read_text()
    assert 'SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)' in text
    assert "CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE" in text
    assert 'X_FRAME_OPTIONS = "DENY"' in text


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def test_no_inline_script_or_style_in_served_templates():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        relative = path.relative_to(ROOT / "templates")
        # PDFs are drawn by WeasyPrint on the server; no browser, no CSP.
        if relative.parts[0] == "pdf" or path.name.endswith(".pdf.html"):
            continue
        text = path.read_text()
        if INLINE_SCRIPT.search(text) or INLINE_STYLE.search(text):
            offenders.append(str(relative))
    assert offenders == []


# --- log-in throttling -----------------------------------------------------------------------


@pytest.mark.django_db
def test_lock_out_after_repeated_failures(client, settings):
    settings.LANGUAGE_CODE = "en"
    user = UserFactory(username="throttled")
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"username": "throttled", "password": "wrong"})
        assert response.status_code == 200  # the ordinary "wrong password" form
    response = client.post(url, {"username": "throttled", "password": "wrong"})
    assert response.status_code == 429
    # Now even the right password is refused, with the explanation, and nobody is logged in.
    response = client.post(url, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.text or "ログイン" in response.text
    assert "_auth_user_id" not in client.session
    # Another person from the same address is not locked out.
    other = UserFactory(username="unrelated")
    response = Client().post(url, {"username": other.username, "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_lock_out_ends_after_the_cool_off(client, settings):
    UserFactory(username="patient")
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "patient", "password": "wrong"})
    assert client.post(url, {"username": "patient", "password": PASSWORD}).status_code == 429
    later = timezone.now() + timedelta(hours=settings.AXES_COOLOFF_TIME, minutes=1)
    with time_machine.travel(later, tick=False):
        assert client.post(url, {"username": "patient", "password": PASSWORD}).status_code == 302


# --- two-factor log-in -----------------------------------------------------------------------


def _log_in(client: Client, username: str):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["coordinator", "agency_admin", "staff"])
def test_second_factor_required_for_coordinators_and_administrators(cast, who):
    from permissions.models import Membership

    if who == "coordinator":
        user = cast.coordinator
    elif who == "agency_admin":
        user = UserFactory(username="agency-admin")
        Membership.objects.create(user=user, agency=cast.council, role=Membership.Role.AGENCY_ADMIN)
    else:
        user = UserFactory(username="staff-person", is_staff=True)
    client = Client()
    response = _log_in(client, user.username)
    assert response.status_code == 302
    # Every page (and the case records) sends the person to enrol first.
    for url in (reverse("dashboard"), reverse("casework:case-detail", args=[cast.case.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("twofactor-setup"))
    page = client.get(reverse("twofactor-setup"))
    assert page.status_code == 200
    body = page.text
    assert "<svg" in body  # the QR code, drawn on the server
    assert "<img" not in body.split("<main", 1)[1]  # no third-party QR image
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(reverse("twofactor-setup"), {"token": "000000"})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    # A wrong code slows the next attempt down (django-otp throttling): wait a little.
    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=False):
        response = client.post(
            reverse("twofactor-setup"),
            {"token": current_token(device), "next": reverse("dashboard")},
        )
        assert response.status_code == 302
        assert client.get(reverse("dashboard")).status_code == 200
    # Next log-in: the code of the enrolled device is asked for, not a new enrolment.
    client = Client()
    _log_in(client, user.username)
    response = client.get(reverse("dashboard"))
    assert response["Location"].startswith(reverse("twofactor-verify"))
    device.refresh_from_db()
    response = client.post(reverse("twofactor-verify"), {"token": "123456"})
    assert response.status_code == 200
    assert client.get(reverse("dashboard")).status_code == 302
    with time_machine.travel(timezone.now() + timedelta(seconds=60), tick=False):
        token = current_token(device)  # a fresh time step (the last one was used)
        response = client.post(
            reverse("twofactor-verify"), {"token": token, "next": reverse("dashboard")}
        )
        assert response.status_code == 302
        assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_second_factor_optional_for_others(cast):
    client = Client()
    _log_in(client, cast.professional.username)
    assert client.get(reverse("dashboard")).status_code == 200
    # ...and available to them.
    page = client.get(reverse("twofactor-setup"))
    assert page.status_code == 200
    assert "<svg" in page.text


@pytest.mark.django_db
def test_a_password_alone_cannot_replace_the_device(cast):
    original = confirmed_device(cast.coordinator)
    client = Client()
    _log_in(client, cast.coordinator.username)  # the password, not the phone
    response = client.get(reverse("twofactor-setup"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("twofactor-verify"))
    response = client.post(reverse("twofactor-setup"), {"token": "123456"})
    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=cast.coordinator)) == [original]


@pytest.mark.django_db
def test_the_way_back_keeps_its_query(cast):
    client = Client()
    _log_in(client, cast.coordinator.username)
    response = client.get(reverse("casework:case-list") + "?q=a&page=2")
    assert response.status_code == 302
    assert "next=%2Fcases%2F%3Fq%3Da%26page%3D2" in response["Location"]


@pytest.mark.django_db
def test_two_factor_pages_need_a_log_in(client):
    for name in ("twofactor-setup", "twofactor-verify"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_verify_redirects_only_to_this_site(cast):
    client = Client()
    _log_in(client, cast.coordinator.username)
    device = confirmed_device(cast.coordinator)
    response = client.post(
        reverse("twofactor-verify"),
        {"token": current_token(device), "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


# --- sessions: idle expiry and password change -----------------------------------------------


@pytest.mark.django_db
def test_idle_session_expires(cast, settings):
    client = cast.client_for("professional")
    assert client.get(reverse("dashboard")).status_code == 200
    later = timezone.now() + timedelta(minutes=settings.SESSION_IDLE_MINUTES, seconds=1)
    with time_machine.travel(later, tick=False):
        response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_activity_keeps_the_session(cast, settings):
    client = cast.client_for("professional")
    start = timezone.now()
    step = timedelta(minutes=settings.SESSION_IDLE_MINUTES - 5)
    for i in range(1, 4):
        with time_machine.travel(start + i * step, tick=False):
            assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_password_change_ends_other_sessions(cast):
    phone, desk = cast.client_for("professional"), cast.client_for("professional")
    response = desk.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-2026",
            "new_password2": "a-new-long-passphrase-2026",
        },
    )
    assert response.status_code == 302
    assert desk.get(reverse("dashboard")).status_code == 200
    assert phone.get(reverse("dashboard")).status_code == 302


# --- WebSockets close when the session ends --------------------------------------------------


def _cookie(client: Client) -> tuple[bytes, bytes]:
    sessionid = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={sessionid}".encode())


@pytest.fixture
def socket_user(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="socket-person")


async def _connected(cookie):  # type: ignore[no-untyped-def]
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[ORIGIN, HOST, cookie])
    connected, _ = await communicator.connect()
    assert connected
    # A message of the person's (the test consumer answers anything); a keepalive is not one.
    await communicator.send_json_to({"type": "hello"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    return communicator


def _logged_in_client(user):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _aged_client(username: str):  # type: ignore[no-untyped-def]
    """A logged-in client whose session was last renewed a minute ago (due for renewal), and
    that session's row as it is now."""
    import time

    from django.contrib.sessions.models import Session

    from config.twofactor import TOUCH_KEY

    client = _logged_in_client(UserFactory(username=username))
    session = client.session
    session[TOUCH_KEY] = int(time.time()) - 61
    session.save()
    return client, Session.objects.get(pk=session.session_key)


@pytest.mark.django_db(transaction=True)
async def test_idle_expiry_closes_a_live_socket_on_the_next_message(socket_user, settings):
    from asgiref.sync import sync_to_async

    client = await sync_to_async(_logged_in_client)(socket_user)
    communicator = await _connected(_cookie(client))
    later = timezone.now() + timedelta(minutes=settings.SESSION_IDLE_MINUTES, seconds=1)
    with time_machine.travel(later, tick=True):
        await communicator.send_json_to({"type": "ping"})
        output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_idle_expiry_closes_a_silent_socket(socket_user, settings):
    """Nothing is sent: the process's sweep notices the session is gone."""
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    settings.SESSION_RECHECK_SECONDS = 1  # a sweep every half second
    client = await sync_to_async(_logged_in_client)(socket_user)
    communicator = await _connected(_cookie(client))
    # What idle time does to the session row: its expiry passes.
    await sync_to_async(
        Session.objects.filter(pk=client.cookies[settings.SESSION_COOKIE_NAME].value).update
    )(expire_date=timezone.now() - timedelta(seconds=1))
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_log_out_and_password_change_close_sockets(socket_user, settings):
    """Through the site, both close the person's other sockets at once: no message needed."""
    from asgiref.sync import sync_to_async

    settings.SESSION_RECHECK_SECONDS = 3600  # the sweep plays no part here
    first = await sync_to_async(_logged_in_client)(socket_user)
    second = await sync_to_async(_logged_in_client)(socket_user)
    desk = await sync_to_async(_logged_in_client)(socket_user)
    by_logout = await _connected(_cookie(first))
    by_password = await _connected(_cookie(second))
    await sync_to_async(first.post)(reverse("logout"))
    assert await by_logout.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    response = await sync_to_async(desk.post)(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-passphrase-2026",
            "new_password2": "another-long-passphrase-2026",
        },
    )
    assert response.status_code == 302
    assert await by_password.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": 4401,
    }
    for communicator in (by_logout, by_password):
        await communicator.disconnect()


async def _socket_whose_password_changed_behind_its_back(user, settings, recheck):  # type: ignore[no-untyped-def]
    """A connected socket (sessions checked every `recheck` seconds) whose person's password
    was then set outside the site: no notice reaches the socket."""
    from asgiref.sync import sync_to_async

    settings.SESSION_RECHECK_SECONDS = recheck
    client = await sync_to_async(_logged_in_client)(user)
    communicator = await _connected(_cookie(client))

    def change_password() -> None:
        user.set_password("another-long-passphrase-2026")
        user.save()

    await sync_to_async(change_password)()
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_a_session_ended_behind_the_sites_back_closes_a_silent_socket_by_the_sweep(
    socket_user, settings
):
    """A password set outside the site (no notice to the sockets), nothing sent: the
    process's sweep finds the session no longer matches and closes the socket within the
    bound."""
    communicator = await _socket_whose_password_changed_behind_its_back(socket_user, settings, 1)
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_message_waits_for_a_check_only_when_the_sweep_is_late(socket_user, settings):
    """Within SESSION_RECHECK_SECONDS of the last check a message is answered without a check
    of its own (the sweep's business); the first one after the bound — the sweep late, as
    here, where its next round is an hour away — is checked first, and closes the socket."""
    communicator = await _socket_whose_password_changed_behind_its_back(socket_user, settings, 3600)
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}  # within the bound
    with time_machine.travel(timezone.now() + timedelta(seconds=3601), tick=True):
        await communicator.send_json_to({"type": "ping"})
        output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_message_renews_the_idle_timer_through_the_sweep(settings):
    """A socket in use keeps its session alive: after a message, the next sweep renews the
    session's idle expiry (its last renewal a minute old); a silent socket's is left to run
    out."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    settings.SESSION_RECHECK_SECONDS = 1  # a sweep every half second

    busy_client, busy_before = await sync_to_async(_aged_client)("busy-person")
    silent_client, silent_before = await sync_to_async(_aged_client)("silent-person")
    busy = await _connected(_cookie(busy_client))  # sends a message
    silent = WebsocketCommunicator(
        application, "/ws/ping/", headers=[ORIGIN, HOST, _cookie(silent_client)]
    )
    assert (await silent.connect())[0]
    await asyncio.sleep(1.5)  # two sweeps or more
    reread = sync_to_async(lambda key: Session.objects.get(pk=key))
    busy_after = await reread(busy_before.pk)
    silent_after = await reread(silent_before.pk)
    assert busy_after.expire_date > busy_before.expire_date
    assert silent_after.session_data == silent_before.session_data
    assert silent_after.expire_date == silent_before.expire_date
    for communicator in (busy, silent):
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_keepalives_do_not_renew_the_idle_timer(settings):
    """The live page pings when it has heard nothing for a while, to notice a lost network:
    those pings are answered, but they are not the person using the page, so a page left
    open still times out. Any other message renews the session, as above."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    settings.SESSION_RECHECK_SECONDS = 1  # a sweep every half second

    client, before = await sync_to_async(_aged_client)("pinging-person")
    communicator = WebsocketCommunicator(
        application, "/ws/ping/", headers=[ORIGIN, HOST, _cookie(client)]
    )
    assert (await communicator.connect())[0]
    for text in ('{"type":"ping"}', '{"type": "ping"}'):  # the page's, and with spaces
        await communicator.send_to(text_data=text)
        assert await communicator.receive_json_from() == {"type": "pong"}
    await asyncio.sleep(1.5)  # two sweeps or more
    after = await sync_to_async(lambda key: Session.objects.get(pk=key))(before.pk)
    assert after.session_data == before.session_data
    assert after.expire_date == before.expire_date
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_refused_while_the_second_factor_is_owed():
    from asgiref.sync import sync_to_async

    from permissions.models import Membership
    from tests.factories import AgencyFactory

    def coordinator_half_logged_in() -> Client:
        user = UserFactory(username="half-way")
        Membership.objects.create(
            user=user, agency=AgencyFactory(), role=Membership.Role.COORDINATOR
        )
        client = Client()
        client.post(reverse("login"), {"username": "half-way", "password": PASSWORD})
        return client

    client = await sync_to_async(coordinator_half_logged_in)()
    communicator = WebsocketCommunicator(
        application, "/ws/ping/", headers=[ORIGIN, HOST, _cookie(client)]
    )
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401
    await communicator.disconnect()


def test_the_served_socket_stack_always_has_a_session():
    """The guard trusts a scope without a session layer (unit tests); the application served
    by uvicorn always has one."""
    from channels.auth import AuthMiddlewareStack  # noqa: F401
    from channels.sessions import SessionMiddleware

    stack = application.application_mapping["websocket"].application
    found = False
    while stack is not None and not found:
        found = isinstance(stack, SessionMiddleware)
        stack = getattr(stack, "inner", None)
    assert found


def test_the_benchmarks_bare_broadcasts_are_not_routed_by_default():
    """The floors benchmarks/live_fanout.py measures take anyone's frames to anyone in a room:
    they are routed only in its server (OTAGAI_BENCHMARK_ROUTES=1), never otherwise."""
    import os

    from conferences.routing import websocket_urlpatterns

    assert os.environ.get("OTAGAI_BENCHMARK_ROUTES") != "1"
    routes = [str(p.pattern) for p in websocket_urlpatterns]
    assert routes == ["ws/conferences/<int:pk>/"]
