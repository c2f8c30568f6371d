"""Browser tests: a real uvicorn server on the test database, Debian's chromium, axe-core.

The server is a separate process (as in production); it reads the test database that
`transactional_db` tests write to and commit. Tests must use `otagai_server`, which needs
`transactional_db` so that their data is committed and visible to the server.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import server as server_process

# Playwright's sync API runs an event loop in this thread; Django's ORM in the same test is
# still synchronous code, so the async-safety guard would misfire.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"


def database_url_for_server() -> str:
    from django.db import connection

    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{sd['NAME']}"
    user = sd.get("USER") or "postgres"
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    host = sd.get("HOST") or "127.0.0.1"
    port = sd.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{sd['NAME']}"


class ServerProcess(server_process.ServerProcess):
    """One server process on the test database (tests/server.py), its output in
    test-artifacts/server-<port>.log."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        port = server_process.free_port()
        super().__init__(
            port=port,
            env={
                "DATABASE_URL": database_url_for_server(),
                "DEBUG": "1",
                "SECRET_KEY": os.environ.get("SECRET_KEY", "test-only-secret-key"),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                **(extra_env or {}),
            },
            log=ARTIFACTS / f"server-{port}.log",
        )


@pytest.fixture(scope="session")
def otagai_server_session(django_db_setup, django_db_blocker) -> Iterator[ServerProcess]:
    with django_db_blocker.unblock():
        server = ServerProcess()
    yield server
    server.stop()


@pytest.fixture
def otagai_server(otagai_server_session, transactional_db) -> Iterator[ServerProcess]:
    yield otagai_server_session
    # Torn down before `transactional_db` empties the tables (it was set up first).
    wait_for_server_quiet()


def wait_for_server_quiet(timeout: float = 10.0) -> None:
    """A closed page closes its live socket, and the server then writes (presence) in a
    transaction of its own. The flush after the test (TRUNCATE) must not race with that:
    PostgreSQL would end one of the two as a deadlock. Wait until the server's sessions
    have been idle for a moment."""
    from django.db import connection

    time.sleep(0.3)  # the socket's close reaches the server
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
            busy = cursor.fetchone()[0]
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= 0.3:
            return
        time.sleep(0.05)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while the browser is open, which would break every async (pytest-asyncio) test that
# runs after the browser tests (pytest-django runs transactional tests last, in file order).
@pytest.fixture(scope="package")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("needs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


def new_context(browser, *, phone: bool = False, locale: str = "ja-JP"):  # type: ignore[no-untyped-def]
    viewport = {"width": 360, "height": 740} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(viewport=viewport, locale=locale, has_touch=phone)
    context.set_default_timeout(10_000)
    if AXE_JS.exists():
        # An init script is injected by the browser itself, so a strict CSP does not block it.
        context.add_init_script(path=str(AXE_JS))
    return context


@pytest.fixture
def context(browser):  # type: ignore[no-untyped-def]
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):  # type: ignore[no-untyped-def]
    return context.new_page()


def login(page, server: ServerProcess, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")
    if "/accounts/2fa/" in page.url:
        # A coordinator: enter the current code of a confirmed device, as the phone would.
        from django.contrib.auth import get_user_model

        from tests.twofactor import confirmed_device, current_token

        device = confirmed_device(get_user_model().objects.get(username=username))
        if "/accounts/2fa/setup/" in page.url:
            page.goto(page.url.replace("/2fa/setup/", "/2fa/verify/"))
        page.fill("#id_token", current_token(device))
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")


def assert_no_serious_axe_violations(page, what: str = "") -> None:  # type: ignore[no-untyped-def]
    """axe-core (from node_modules, not a CDN) finds no serious or critical violation."""
    if not AXE_JS.exists():
        pytest.fail("axe-core is missing: run `npm ci` (make test does it)")
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    bad = [v for v in result if v.get("impact") in {"serious", "critical"}]
    detail = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in bad
    )
    assert not bad, f"axe violations on {what or page.url}:\n{detail}"


def assert_fits_phone(page) -> None:  # type: ignore[no-untyped-def]
    """Nothing scrolls sideways on a 360-px phone."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"page is {overflow}px wider than the phone at {page.url}"
