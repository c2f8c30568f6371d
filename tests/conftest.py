"""The shared cast: a coordinator, a professional with support tier, a resident member with
watch tier, an outsider, and anonymous; one case with distinctive text on every tier."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from casework.services import case_refresh_search
from permissions.models import Agency, Membership, Share, Tier
from tests.factories import (
    PASSWORD,
    AgencyFactory,
    AreaFactory,
    CaseFactory,
    ChronologyFactory,
    MemberFactory,
    MembershipFactory,
    ShareFactory,
    UserFactory,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Distinctive text on every tier; tests assert on these exact strings.
WATCH_TEXT = "見守り：毎週火曜に民生委員が声かけ"
SUPPORT_TEXT = "支援：長男の就労支援を検討中"
SENSITIVE_TEXT = "要配慮：統合失調症で通院中断"
SENSITIVE_FINANCE = "要配慮：消費者金融3社から借入180万円"
SUPPORT_CHRONO = "支援年表：ケアマネ訪問で状況確認"
SENSITIVE_CHRONO = "要配慮年表：保健師が服薬状況を確認"
WATCH_CHRONO = "見守り年表：元気に応対"


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must not skip this test: {reason}")
    pytest.skip(reason)


def pgbouncer_path() -> str | None:
    """Debian's pgbouncer: on the PATH, or in /usr/sbin (not on a user's PATH)."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        _need("postgresql" in engine, "needs PostgreSQL: set DATABASE_URL=postgres://...")
    if item.get_closest_marker("redis"):
        _need(bool(os.environ.get("REDIS_URL")), "needs Redis: set REDIS_URL=redis://...")
    if item.get_closest_marker("pgbouncer"):
        _need(pgbouncer_path() is not None, "needs PgBouncer (apt-get install pgbouncer)")
    if item.get_closest_marker("browser"):
        _need(
            bool(shutil.which("chromium") or shutil.which("chromium-browser")),
            "needs Debian's chromium (apt-get install chromium)",
        )


@dataclass
class Cast:
    council: Agency
    professional_agency: Agency
    residents_agency: Agency
    outsider_agency: Agency
    coordinator: Any
    professional: Any
    resident: Any
    outsider: Any
    case: Any
    area: Any
    small_area: Any

    def client_for(self, who: str) -> Client:
        client = Client()
        if who != "anonymous":
            client.force_login(getattr(self, who))
        return client


def make_cast() -> Cast:
    area = AreaFactory(name="富坂")
    small_area = AreaFactory(name="春日町会", parent=area)
    council = AgencyFactory(name="社協", kind=Agency.Kind.COUNCIL, disaster_supporter=True)
    prof_agency = AgencyFactory(name="ケアプランセンター", kind=Agency.Kind.PROFESSIONAL)
    residents = AgencyFactory(
        name="民生委員協議会", kind=Agency.Kind.RESIDENTS, disaster_supporter=True
    )
    outsider_agency = AgencyFactory(name="よその機関", kind=Agency.Kind.PROFESSIONAL)
    coordinator = UserFactory(username="coordinator", last_name="佐藤", first_name="美咲")
    professional = UserFactory(username="professional", last_name="鈴木", first_name="健")
    resident = UserFactory(username="resident", last_name="高橋", first_name="和子")
    outsider = UserFactory(username="outsider", last_name="石田", first_name="聡")
    MembershipFactory(user=coordinator, agency=council, role=Membership.Role.COORDINATOR)
    MembershipFactory(user=professional, agency=prof_agency, role=Membership.Role.PROFESSIONAL)
    MembershipFactory(user=resident, agency=residents, role=Membership.Role.RESIDENT)
    MembershipFactory(user=outsider, agency=outsider_agency, role=Membership.Role.PROFESSIONAL)
    case = CaseFactory(
        label="山﨑さん世帯",
        life_area=area,
        small_area=small_area,
        lead_coordinator=coordinator,
        watch_notes=WATCH_TEXT,
        watch_over=True,
        summary=SUPPORT_TEXT,
        health=SENSITIVE_TEXT,
        finances=SENSITIVE_FINANCE,
    )
    MemberFactory(case=case, name="山﨑 一郎", kana="やまさき いちろう", age=53)
    case_refresh_search(case)
    ShareFactory(
        case=case,
        agency=council,
        tier=Tier.SENSITIVE,
        basis=Share.Basis.INTAKE,
        coordinates=True,
        may_contribute=True,
    )
    ShareFactory(case=case, agency=prof_agency, tier=Tier.SUPPORT, may_contribute=True)
    ShareFactory(case=case, agency=residents, tier=Tier.WATCH)
    ChronologyFactory(
        case=case, agency=council, author=coordinator, tier=Tier.WATCH, text=WATCH_CHRONO
    )
    ChronologyFactory(
        case=case, agency=prof_agency, author=professional, tier=Tier.SUPPORT, text=SUPPORT_CHRONO
    )
    ChronologyFactory(
        case=case, agency=council, author=coordinator, tier=Tier.SENSITIVE, text=SENSITIVE_CHRONO
    )
    return Cast(
        council=council,
        professional_agency=prof_agency,
        residents_agency=residents,
        outsider_agency=outsider_agency,
        coordinator=coordinator,
        professional=professional,
        resident=resident,
        outsider=outsider,
        case=case,
        area=area,
        small_area=small_area,
    )


@pytest.fixture
def cast(db) -> Cast:
    return make_cast()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def db_vendor(db) -> str:
    return connection.vendor


@pytest.fixture(autouse=True)
def _no_connection_lost_to_the_pool() -> Any:
    """PostgreSQL with the connection pool (settings.DATABASE_POOL_MAX_SIZE): the live page's
    worker threads keep their connections open (conferences/consumers/db.py). In production
    those threads live as long as the process; a test's event loop ends with the test and
    its threads with it, still holding their connections, which the pool then counts as in
    use for good. After such a test the pool is closed (a new one opens on the next query),
    so that the next tests do not wait for connections that will never come back.

    Autouse, so set up after pytest-django's database marker and torn down before its flush."""
    yield
    if connection.vendor != "postgresql" or not connection.pool or connection.in_atomic_block:
        return
    stats = connection.pool.get_stats()
    held = 1 if connection.connection is not None else 0
    if stats.get("pool_size", 0) - stats.get("pool_available", 0) > held:
        import gc

        from django.db import connections

        gc.collect()  # the ended threads' connections: closed, not given back to the pool
        connections.close_all()
        connection.close_pool()


@pytest.fixture(autouse=True)
def _fast_password_hashing(request, settings) -> None:
    # The default PBKDF2 costs ~0.3 s a user; tests do not test hashing strength. A separate
    # server process keeps its own hashers, so browser tests keep the default.
    if "otagai_server" in request.fixturenames:
        return
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _second_factor_entered(request, monkeypatch) -> None:
    """`client.force_login(user)` / `client.login(...)` stand for a whole log-in, including the
    code from the person's authenticator app (tests.twofactor) where their role needs one.
    Tests of the log-in itself post to the log-in and 2FA pages instead."""
    from tests.twofactor import complete_second_factor

    original_force_login, original_login = Client.force_login, Client.login

    def force_login(self, user, backend=None):  # type: ignore[no-untyped-def]
        original_force_login(self, user, backend)
        complete_second_factor(self, user)

    def login(self, **credentials):  # type: ignore[no-untyped-def]
        from django.contrib.auth import get_user_model

        if "request" not in credentials:  # django-axes throttles per request (address)
            from django.test import RequestFactory

            credentials["request"] = RequestFactory().post("/accounts/login/")
        done = original_login(self, **credentials)
        if done:
            user = get_user_model()._default_manager.get(pk=self.session["_auth_user_id"])
            complete_second_factor(self, user)
        return done

    monkeypatch.setattr(Client, "force_login", force_login)
    monkeypatch.setattr(Client, "login", login)


@pytest.fixture(scope="session", autouse=True)
def _append_only_tables_truncatable_in_tests(django_db_setup, django_db_blocker) -> None:
    # Transactional tests (WebSockets, the browser) are emptied with TRUNCATE between tests.
    # On PostgreSQL the audit log and the disclosure ledger refuse TRUNCATE (permissions
    # migrations 0002, 0004); in the throw-away test database only, let the flush through.
    # UPDATE and DELETE stay refused.
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table in ("permissions_auditevent", "permissions_disclosurerecord"):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_truncate")


@pytest.fixture(scope="session", autouse=True)
def _no_session_left_in_the_test_database(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """The worker threads that ran the sockets' database calls (asgiref's executor, each with
    its own connection) outlive the tests, and their connections with them: PostgreSQL then
    refused to drop the test database at the end ("being accessed by other users"). Before
    pytest-django drops it (this fixture is torn down first), end those sessions."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
