"""`session_still_valid`, a guarded socket's own check (on connecting, after a log-out
elsewhere, when its process's sweep is late): one statement for the session and the person's
password, the session's data decoded once per stored version, and the session store's own way
for the touch; and `sessions_still_valid`, the same for all of a process's sockets at once
(its sweep): two statements. Each refusal here closes a live socket (the socket-level tests
are in test_security.py)."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY

from config import session_guard
from config.session_guard import session_still_valid, sessions_still_valid
from config.twofactor import REQUIRED_KEY, TOUCH_KEY
from tests.factories import UserFactory
from tests.twofactor import complete_second_factor

pytestmark = pytest.mark.django_db


def _session_of(user, **data):  # type: ignore[no-untyped-def]
    """The session key of `user` logged in as a person does, with `data` added to it."""
    client = Client()
    client.force_login(user)
    complete_second_factor(client, user)
    session = client.session
    session.update(data)
    session.save()
    return session.session_key


def test_a_live_session_passes_in_one_statement():
    user = UserFactory()
    key = _session_of(user)
    assert session_still_valid(key, user.pk)
    with CaptureQueriesContext(connection) as queries:
        assert session_still_valid(key, user.pk, touch=True)  # touched a moment ago
    assert len(queries.captured_queries) == 1


def _ended(change: str, user, key):  # type: ignore[no-untyped-def]
    """End `user`'s session `key` in the way `change` names (other changes leave it)."""
    row = Session.objects.filter(session_key=key)
    if change == "deleted":
        row.delete()
    elif change == "expired":
        row.update(expire_date="2000-01-01T00:00:00Z")
    elif change == "inactive":
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    elif change == "password":
        user.set_password("a new one, set elsewhere")
        user.save()
    elif change == "tampered":
        data = row.get().session_data
        row.update(session_data=data[:-3] + ("AAA" if not data.endswith("AAA") else "BBB"))


@pytest.mark.parametrize(
    "change",
    ["deleted", "expired", "inactive", "password", "tampered", "other_person", "owes_2fa"],
)
def test_every_way_a_session_ends_is_refused(change):
    user, other = UserFactory(), UserFactory()
    key = _session_of(user, **({REQUIRED_KEY: True} if change == "owes_2fa" else {}))
    assert session_still_valid(key, user.pk) is (change != "owes_2fa")  # decoded and kept
    _ended(change, user, key)
    uid = other.pk if change == "other_person" else user.pk
    assert not session_still_valid(key, uid)
    assert not session_still_valid(key, uid, touch=True)


def test_a_second_factor_entered_lets_the_session_through():
    user = UserFactory()
    key = _session_of(user, **{REQUIRED_KEY: True, DEVICE_ID_SESSION_KEY: "otp_totp.totpdevice/1"})
    assert session_still_valid(key, user.pk)


def test_a_message_renews_the_idle_timer_at_most_once_a_minute():
    user = UserFactory()
    key = _session_of(user, **{TOUCH_KEY: int(time.time()) - 61})
    before = Session.objects.get(session_key=key)
    assert session_still_valid(key, user.pk, touch=True)
    after = Session.objects.get(session_key=key)
    assert after.expire_date > before.expire_date
    touched = SessionStore().decode(after.session_data)[TOUCH_KEY]
    assert touched >= int(time.time()) - 1
    # The new version of the data is what the next check decodes; no save within the minute.
    assert session_still_valid(key, user.pk, touch=True)
    assert Session.objects.get(session_key=key).session_data == after.session_data


def test_the_decoded_sessions_are_bounded(monkeypatch):
    monkeypatch.setattr(session_guard, "_DECODED_MAX", 3)
    users = [UserFactory() for _ in range(5)]
    keys = [_session_of(u) for u in users]
    for user, key in zip(users, keys, strict=True):
        assert session_still_valid(key, user.pk)
        assert len(session_guard._DECODED) <= 3


def test_a_sweep_checks_every_socket_in_two_statements_and_refuses_each_ending():
    """Many sockets' sessions, some of them ended in each way, one of them open twice (two
    tabs): two statements whatever their number, and the same answer as one by one."""
    changes = [
        "live",
        "deleted",
        "expired",
        "inactive",
        "password",
        "tampered",
        "owes_2fa",
        "other",
    ]
    people = [UserFactory() for _ in changes]
    keys = [
        _session_of(u, **({REQUIRED_KEY: True} if c == "owes_2fa" else {}))
        for u, c in zip(people, changes, strict=True)
    ]
    for change, user, key in zip(changes, people, keys, strict=True):
        _ended(change, user, key)
    checks = [(k, u.pk, False) for k, u in zip(keys, people, strict=True)]
    checks[-1] = (keys[-1], people[0].pk, False)  # someone else's session
    checks.append((keys[0], people[0].pk, False))  # the live one, in a second tab
    with CaptureQueriesContext(connection) as queries:
        results = sessions_still_valid(checks)
    assert len(queries.captured_queries) == 2
    assert results == [True, False, False, False, False, False, False, False, True]
    assert results == [session_still_valid(k, u) for k, u, _t in checks]


def test_a_sweep_reads_its_sessions_in_chunks(monkeypatch):
    monkeypatch.setattr(session_guard, "_CHUNK", 2)
    people = [UserFactory() for _ in range(5)]
    checks = [(_session_of(u), u.pk, False) for u in people]
    with CaptureQueriesContext(connection) as queries:
        assert sessions_still_valid(checks) == [True] * 5
    assert len(queries.captured_queries) == 6  # three of sessions, three of passwords


def test_a_sweep_touches_only_the_sessions_in_use_and_due():
    """A socket with a message since the last sweep (touch) renews its session's idle expiry
    if the last renewal is a minute old; a silent one, or one renewed a moment ago, does not."""
    in_use, silent, fresh = UserFactory(), UserFactory(), UserFactory()
    old = {TOUCH_KEY: int(time.time()) - 61}
    keys = [_session_of(in_use, **old), _session_of(silent, **old), _session_of(fresh)]
    before = {k: Session.objects.get(session_key=k) for k in keys}
    results = sessions_still_valid(
        [(keys[0], in_use.pk, True), (keys[1], silent.pk, False), (keys[2], fresh.pk, True)]
    )
    assert results == [True, True, True]
    after = {k: Session.objects.get(session_key=k) for k in keys}
    assert after[keys[0]].expire_date > before[keys[0]].expire_date
    assert SessionStore().decode(after[keys[0]].session_data)[TOUCH_KEY] >= int(time.time()) - 1
    for key in keys[1:]:
        assert after[key].session_data == before[key].session_data
        assert after[key].expire_date == before[key].expire_date


@pytest.mark.postgres
def test_a_sweep_runs_as_the_application_role():
    """Production's role (row-level security on, the grants a deployment gives it) reads the
    sessions and the passwords the sweep needs."""
    from tests.permissions.test_rls import as_app_role, ensure_app_role

    ensure_app_role()
    live, gone = UserFactory(), UserFactory()
    keys = [_session_of(live), _session_of(gone)]
    _ended("password", gone, keys[1])
    with as_app_role():
        results = sessions_still_valid([(keys[0], live.pk, False), (keys[1], gone.pk, False)])
    assert results == [True, False]
