"""The foundation: settings from the environment, health, WebSockets, accounts, language, demo."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casework.demo import DEMO_PASSWORD, counts
from config.asgi import application
from tests.factories import PASSWORD, AgencyFactory, MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
HOST = (b"host", b"127.0.0.1:8000")


# --- settings, read in a fresh interpreter with a chosen environment -------------------------


def settings_with(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a subprocess with `env` over a clean environment; print `expression`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({expression}, default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_value(env: dict[str, str], expression: str):  # type: ignore[no-untyped-def]
    result = settings_with(env, expression)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_channel_layer_is_in_memory_without_redis_url():
    layers = settings_value({"DEBUG": "1"}, "settings.CHANNEL_LAYERS")
    assert layers["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_empty_redis_url_means_in_memory():
    layers = settings_value({"DEBUG": "1", "REDIS_URL": ""}, "settings.CHANNEL_LAYERS")
    assert layers["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_channel_layer_is_redis_when_redis_url_is_set():
    layers = settings_value(
        {"DEBUG": "1", "REDIS_URL": "redis://127.0.0.1:6379/9"}, "settings.CHANNEL_LAYERS"
    )
    assert layers["default"]["BACKEND"] == "config.layers.RedisChannelLayer"
    (host,) = layers["default"]["CONFIG"]["hosts"]
    assert host["address"] == "redis://127.0.0.1:6379/9"
    # Above the layer's 5-s blocking wait (redis-py 8 defaults to 5 s: consumers would die).
    assert host["socket_timeout"] > 5


def test_empty_database_url_means_the_sqlite_default():
    db = settings_value({"DEBUG": "1", "DATABASE_URL": ""}, "settings.DATABASES['default']")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(db["NAME"]) == ROOT / "var" / "otagai.sqlite3"


def test_sqlite_commits_reach_the_disk_before_they_return(tmp_path):
    # An acknowledged live operation must survive a power cut (docs/live-protocol.md): in WAL
    # mode, synchronous=NORMAL may lose the last commits to one, FULL does not.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.db import connection; "
            "c = connection.cursor(); "
            "print(c.execute('PRAGMA journal_mode').fetchone()[0], "
            "c.execute('PRAGMA synchronous').fetchone()[0])",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'durable.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "2"]  # 2: FULL


def test_database_url_selects_postgresql():
    db = settings_value(
        {"DEBUG": "1", "DATABASE_URL": "postgres://otagai:pw@db.example:5433/otagai"},
        "settings.DATABASES['default']",
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("db.example", 5433, "otagai")


def test_missing_secret_key_stops_production_start_up_naming_it():
    # What uvicorn does first: import the ASGI application.
    result = subprocess.run(
        [sys.executable, "-c", "import config.asgi"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}},
            "DEBUG": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr


@pytest.mark.parametrize("debug", ["1", "0"])
def test_a_django_log_line_is_printed_once(debug):
    marker = f"log-marker-{uuid.uuid4().hex}"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, logging; django.setup(); "
            f"logging.getLogger('django.request').warning('{marker}')",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": debug,
            "SECRET_KEY": "s3cret" * 10,
            "LOG_LEVEL": "INFO",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(marker) == 1, result.stderr


def test_development_gets_a_secret_key_only_with_debug():
    key = settings_value({"DEBUG": "1"}, "settings.SECRET_KEY")
    assert key.startswith("django-insecure-")
    assert settings_value({"DEBUG": "0", "SECRET_KEY": "s3cret" * 10}, "settings.DEBUG") is False


def test_japanese_first_and_tokyo_time():
    assert settings.LANGUAGE_CODE == "ja"
    assert [code for code, _ in settings.LANGUAGES] == ["ja", "en"]
    assert settings.TIME_ZONE == "Asia/Tokyo"
    assert settings.USE_TZ is True


def test_mail_goes_to_the_console_without_email_host():
    backend = settings_value(
        {"DEBUG": "1", "EMAIL_HOST": ""},
        "type(__import__('django.core.mail').core.mail.mailers.default).__module__",
    )
    assert backend == "django.core.mail.backends.console"


def test_mail_uses_smtp_with_email_host():
    smtp = settings_value(
        {
            "DEBUG": "1",
            "EMAIL_HOST": "smtp.example.jp",
            "EMAIL_HOST_USER": "otagai",
            "EMAIL_HOST_PASSWORD": "pw",
        },
        "(lambda m: [type(m).__module__, m.host, m.port, m.username, m.use_tls])"
        "(__import__('django.core.mail').core.mail.mailers.default)",
    )
    assert smtp == ["django.core.mail.backends.smtp", "smtp.example.jp", 587, "otagai", True]


# Django's RemovedInDjango2028Warning is a PendingDeprecationWarning.
DEPRECATIONS_AS_ERRORS = [
    "-W",
    "error::DeprecationWarning",
    "-W",
    "error::PendingDeprecationWarning",
]


def test_settings_trigger_no_deprecation_warning():
    result = subprocess.run(
        [sys.executable, *DEPRECATIONS_AS_ERRORS, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1", "EMAIL_HOST": "smtp.example.jp"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- the channel layer through real Redis ---------------------------------------------------


@pytest.mark.redis
async def test_message_goes_through_the_real_redis_channel_layer():
    from channels_redis.core import RedisChannelLayer

    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer)
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "test.message", "token": token})
    message = await layer.receive(channel)
    assert message == {"type": "test.message", "token": token}
    # Groups too: the live conference page broadcasts through them.
    group = f"test-{token}"
    await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "test.broadcast", "n": 1})
    assert (await layer.receive(channel))["n"] == 1
    await layer.group_discard(group, channel)
    await layer.flush()


@pytest.mark.redis
async def test_many_broadcasts_at_once_wait_for_no_connection_cap():
    """300 conferences of one process broadcasting in the same instant: redis-py 8 caps a pool
    at 100 connections by default and raises instead of waiting, and channels-redis drops what
    exceeds a process's capacity (100 by default: its sockets share one queue in Redis)."""
    layer = get_channel_layer()
    token = uuid.uuid4().hex
    channels = [await layer.new_channel() for _ in range(300)]
    for n, channel in enumerate(channels):
        await layer.group_add(f"test-burst-{token}-{n}", channel)
    await asyncio.gather(
        *(layer.group_send(f"test-burst-{token}-{n}", {"type": "t", "n": n}) for n in range(300))
    )
    received = [await asyncio.wait_for(layer.receive(c), 30) for c in channels]
    assert [m["n"] for m in received] == list(range(300))
    await layer.flush()


# --- /healthz --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["checks"]["channel_layer"]["ok"] is True
    expected = "RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert body["checks"]["channel_layer"]["backend"] == expected
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_channel_layer_fails(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 1: the round trip fails fast.
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.pop("default", None)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is False


# --- WebSockets: session and origin -----------------------------------------------------------


def session_cookie_for(user) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    sessionid = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={sessionid}".encode())


@pytest.fixture
def ws_user(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="ws-user")


@pytest.mark.django_db(transaction=True)
async def test_websocket_with_a_session_and_same_origin_connects(ws_user):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie_for)(ws_user)
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[ORIGIN, HOST, cookie])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_without_a_session_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[ORIGIN, HOST])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_cross_origin_websocket_is_refused_even_with_a_session(ws_user):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie_for)(ws_user)
    evil = (b"origin", b"https://evil.example")
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[evil, HOST, cookie])
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_without_origin_is_refused(ws_user):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie_for)(ws_user)
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[HOST, cookie])
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


# --- accounts ------------------------------------------------------------------------------


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="hanako", last_name="山田", first_name="花子")


def test_root_sends_anonymous_visitors_to_log_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_root_sends_a_logged_in_person_to_the_dashboard(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


@pytest.mark.parametrize("url", ["/dashboard/", "/accounts/me/", "/accounts/password/"])
def test_pages_require_log_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_log_in_and_log_out_round_trip(client, user):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    html = page.content.decode()
    # Labelled fields with the right autocomplete hints.
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert 'autocomplete="current-password"' in html

    response = client.post(
        "/accounts/login/", {"username": "hanako", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert response.context["user"] == user
    assert "山田 花子" in response.content.decode()  # family name first

    # Log-out is a POST (a link could be triggered by any page); afterwards, back to log-in.
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get("/dashboard/").status_code == 302


def test_log_in_honours_a_safe_next_and_ignores_an_outside_one(client, user):
    response = client.post(
        "/accounts/login/?next=/accounts/me/",
        {"username": "hanako", "password": PASSWORD, "next": "/accounts/me/"},
    )
    assert response["Location"] == "/accounts/me/"
    client.post("/accounts/logout/")
    response = client.post(
        "/accounts/login/",
        {"username": "hanako", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("dashboard")


def login_error(client: Client, username: str, password: str) -> str:
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 1
    return str(errors[0])


def test_wrong_password_says_the_same_whether_or_not_the_user_exists(client, user):
    known = login_error(client, "hanako", "wrong-password")
    unknown = login_error(client, "nobody-by-this-name", "wrong-password")
    assert known == unknown
    assert "hanako" not in known
    user.is_active = False
    user.save()
    assert login_error(client, "hanako", PASSWORD) == known
    # The form is shown again with the error announced and nothing logged in.
    response = client.post("/accounts/login/", {"username": "hanako", "password": "x"})
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_change_works(client, user):
    client.force_login(user)
    assert client.get("/accounts/password/").status_code == 200
    new = "a-new-Otagai-pass-42"
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    # The person stays logged in on this device.
    assert client.get(reverse("password_change_done")).status_code == 200
    user.refresh_from_db()
    assert user.check_password(new)
    assert not user.check_password(PASSWORD)


def test_password_change_refuses_a_wrong_old_password(client, user):
    client.force_login(user)
    new = "a-new-Otagai-pass-42"
    response = client.post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_profile_lists_the_persons_agencies_and_roles(cast):
    client = cast.client_for("coordinator")
    html = client.get("/accounts/me/").content.decode()
    assert "coordinator" in html
    assert "佐藤 美咲" in html
    assert cast.council.name in html
    assert str(cast.council.get_kind_display()) in html
    membership = cast.coordinator.memberships.get()
    assert str(membership.get_role_display()) in html
    # Only their own agencies.
    assert cast.professional_agency.name not in html
    assert cast.outsider_agency.name not in html


@pytest.mark.parametrize("url", ["/dashboard/", "/accounts/me/"])
def test_account_pages_query_count_does_not_grow_with_memberships(cast, url):
    client = cast.client_for("coordinator")
    client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for i in range(3):
        agency = AgencyFactory(name=f"追加の機関{i}")
        m = MembershipFactory(user=cast.coordinator, agency=agency)
        m.life_areas.add(cast.area)
    with CaptureQueriesContext(connection) as four:
        html = client.get(url).content.decode()
    assert "追加の機関2" in html
    assert len(four) == len(one), [q["sql"] for q in four.captured_queries]


def test_menu_marks_the_current_page(cast):
    client = cast.client_for("coordinator")
    html = client.get("/accounts/me/").content.decode()
    assert 'href="/accounts/me/" aria-current="page"' in html
    assert 'href="/dashboard/" aria-current' not in html


def test_dashboard_shows_only_cases_shared_with_the_reader(cast):
    assert cast.case.label in cast.client_for("professional").get("/dashboard/").content.decode()
    assert cast.case.label not in cast.client_for("outsider").get("/dashboard/").content.decode()


def test_admin_is_for_administrators_only(cast):
    admin = get_user_model().objects.create_superuser("root-admin", "a@example.jp", PASSWORD)
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200
    assert 'href="/admin/"' in client.get("/dashboard/").content.decode()
    coordinator = cast.client_for("coordinator")
    assert coordinator.get("/admin/").status_code == 302
    assert 'href="/admin/"' not in coordinator.get("/dashboard/").content.decode()


# --- language ------------------------------------------------------------------------------


def test_japanese_is_the_default_language(client, db):
    response = client.get("/accounts/login/")
    assert response["Content-Language"] == "ja"
    assert '<html lang="ja">' in response.content.decode()


def test_english_switches_through_setlang_and_sticks(client, db):
    response = client.post(
        "/i18n/setlang/", {"language": "en", "next": "/accounts/login/"}, follow=False
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    response = client.get("/accounts/login/")
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in response.content.decode()
    # And back to Japanese.
    client.post("/i18n/setlang/", {"language": "ja", "next": "/accounts/login/"})
    response = client.get("/accounts/login/")
    assert response["Content-Language"] == "ja"
    assert '<html lang="ja">' in response.content.decode()


def test_a_browser_asking_for_english_gets_english(client, db):
    response = client.get("/accounts/login/", headers={"accept-language": "en-US,en;q=0.9"})
    assert response["Content-Language"] == "en"
    response = client.get("/accounts/login/", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert response["Content-Language"] == "ja"


def test_language_switch_is_on_every_page(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language" value="en"' in html


def test_unknown_language_is_ignored(client, db):
    client.post("/i18n/setlang/", {"language": "xx", "next": "/accounts/login/"})
    assert client.get("/accounts/login/")["Content-Language"] == "ja"


# --- demo data ------------------------------------------------------------------------------


def test_seed_demo_twice_gives_the_same_counts(db, capsys):
    call_command("seed_demo")
    first = counts()
    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out
    call_command("seed_demo")
    assert counts() == first
    assert first["areas"] >= 4 + 4 * 3
    assert first["users"] >= 9
    assert first["cases"] >= 30
    # Every demo user can log in with the printed password.
    client = Client()
    assert client.login(username="coordinator", password=DEMO_PASSWORD)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
