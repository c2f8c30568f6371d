"""Django's connection pool (settings.DATABASE_POOL_MAX_SIZE) and the state a physical
PostgreSQL connection carries from one request to the next.

Each test gets a pool of ONE connection, so every checkout is the same physical connection
(the same server process), and ends a request as production does: `close_old_connections`,
which Django runs on `request_finished` and which with conn_max_age=0 gives the connection
back to the pool. The fixtures are committed (transactional tests): the pool's connection is
not the test's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, close_old_connections, connection, connections
from django.test import override_settings
from django.urls import reverse

from casework.models import Case
from permissions import rls
from tests.conftest import SUPPORT_TEXT, WATCH_TEXT
from tests.permissions.test_rls import ROLE, ensure_app_role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def one_connection_pool() -> Iterator[Any]:
    """The default database through a pool of one connection (the suite's own pool, if any,
    is closed first and comes back afterwards with fresh connections)."""
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("pool")
    connection.close()
    connection.close_pool()
    options["pool"] = {"min_size": 1, "max_size": 1, "timeout": 0.5, "name": "test-one"}
    try:
        yield connection.pool
    finally:
        connections.close_all()
        connection.close_pool()
        if saved is None:
            options.pop("pool", None)
        else:
            options["pool"] = saved


@pytest.fixture
def app_role_pool(one_connection_pool: Any) -> Iterator[Any]:
    """Every checkout acts as the application role (DATABASE_SET_ROLE), subject to RLS."""
    ensure_app_role()
    connection.close()  # back to the pool as the owner; the next checkout sets the role
    with override_settings(DATABASE_SET_ROLE=ROLE):
        yield one_connection_pool
        connection.close()  # the flush after the test runs as the owner: checked out anew


def _backend() -> int:
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def _between_requests() -> dict[str, Any]:
    """What the physical connection carries outside any request: checked out again, read
    outside a transaction, as the next request's first statement would see it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, pg_backend_pid(), current_setting(%s, true),"
            " current_setting(%s, true), current_setting(%s, true)",
            list(rls.SETTINGS),
        )
        user, pid, *settings = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM casework_case")
        (cases,) = cursor.fetchone()
    return {"user": user, "pid": pid, "reader": [s or "" for s in settings], "cases": cases}


def test_a_pooled_connection_carries_no_reader_to_the_next_request(cast, app_role_pool):
    url = reverse("casework:case-detail", args=[cast.case.pk])
    pid = _backend()
    close_old_connections()

    response = cast.client_for("coordinator").get(url)
    assert response.status_code == 200
    assert SUPPORT_TEXT in response.content.decode()
    assert _backend() == pid  # the request ran on the pool's one physical connection
    close_old_connections()  # the request ends: the connection goes back to the pool

    # The same physical connection, checked out again: still the application role, no
    # reader set (the reader's settings were transaction-local), so RLS lets nothing through.
    state = _between_requests()
    assert state == {"user": ROLE, "pid": pid, "reader": ["", "", ""], "cases": 0}
    close_old_connections()

    # The next request on it, by a reader of the watch tier: only what that reader may see.
    response = cast.client_for("resident").get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert WATCH_TEXT in body
    assert SUPPORT_TEXT not in body
    close_old_connections()

    # And by the outsider: the case does not exist for them.
    response = cast.client_for("outsider").get(url)
    assert response.status_code == 404
    assert SUPPORT_TEXT not in response.content.decode()
    assert WATCH_TEXT not in response.content.decode()
    assert _backend() == pid
    close_old_connections()


def test_a_request_that_fails_leaves_no_reader_on_the_connection(cast, app_role_pool):
    pid = _backend()
    close_old_connections()
    with pytest.raises(ZeroDivisionError), rls.reader_context(cast.coordinator):
        assert Case.objects.count() == 1  # the reader sees the case, until the error
        _ = 1 / 0
    close_old_connections()
    state = _between_requests()
    assert state == {"user": ROLE, "pid": pid, "reader": ["", "", ""], "cases": 0}


def test_the_role_follows_the_setting_at_every_checkout(cast, one_connection_pool):
    ensure_app_role()
    pid = _backend()
    close_old_connections()
    with override_settings(DATABASE_SET_ROLE=ROLE):
        assert _between_requests()["user"] == ROLE
        assert rls.restricted() is True
        close_old_connections()
        assert _between_requests()["user"] == ROLE  # kept: no second SET ROLE needed
        close_old_connections()
    # The setting changed (tests do this): the same physical connection is put back into
    # its login role at the next checkout, and whether RLS applies is read again.
    state = _between_requests()
    assert state["pid"] == pid
    assert state["user"] != ROLE
    assert state["cases"] == 1  # the owner: not subject to RLS
    assert rls.restricted() is False


def test_whether_rls_applies_is_read_once_per_physical_connection(cast, app_role_pool):
    connection.ensure_connection()
    raw = connection.connection
    assert rls.restricted() is True
    close_old_connections()
    # The next checkout: another Django connection state, the same physical connection, and
    # what was read about it is still known (no statement needed).
    connection.ensure_connection()
    assert connection.connection is raw
    assert rls._PHYSICAL[raw] == {"role": ROLE, "restricted": True}
    assert rls.restricted() is True


def test_an_exhausted_pool_fails_with_an_error_instead_of_hanging(cast, one_connection_pool):
    import threading

    _backend()  # this thread holds the pool's only connection
    errors: list[BaseException] = []

    def another_request() -> None:
        try:
            connections["default"].ensure_connection()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=another_request)
    worker.start()
    worker.join()
    assert len(errors) == 1
    assert isinstance(errors[0], OperationalError)
    assert "couldn't get a connection" in str(errors[0])
