"""WebSocket consumers close when the session behind them ends.

A socket outlives the page that opened it; without this, a person whose session expired
(idle time), who logged out, or whose password was changed elsewhere would keep receiving a
live conference. `SessionGuardMixin` goes first in a consumer's bases: it checks the
session on connecting; then one sweep per server process (per event loop) checks the
sessions of all its guarded sockets together, busy or silent, every half of
SESSION_RECHECK_SECONDS (two statements for all of them: `sessions_still_valid`); a message
waits for a check of its own only when the socket's last check is older than
SESSION_RECHECK_SECONDS (the sweep is late or failing); and `sessions_changed(user)` has the
user's sockets check at once when a session of theirs ended (log-out, password change). A
socket closes with 4401 once the session is gone, expired, belongs to someone else or no
longer matches the password. A message counts as activity: the next sweep renews the
session's idle timer (at most once a minute).

So a log-out or password change through the site closes the sockets within moments, and a
session ended any other way (deleted by an administrator, a password set in a shell, idle
expiry) closes every socket of it, busy or silent, at most SESSION_RECHECK_SECONDS later.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from importlib import import_module
from typing import Any, cast

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import transaction
from django.db.models import Field
from django.utils.crypto import constant_time_compare

from config.sockets import healthy_connections, per_event_loop
from config.twofactor import REQUIRED_KEY, TOUCH_KEY, touch_due

log = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4401


def session_group(user_id: Any) -> str:
    """The channel-layer group of one user's guarded sockets."""
    return f"sessions-{user_id}"


def sessions_changed(user_id: Any) -> None:
    """Tell `user_id`'s open sockets to check their session now (after the commit): call it
    when a session of theirs ends (log-out) or their password changes."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(session_group(user_id), {"type": "session.changed"})
        except Exception:
            # The sockets still find out: at the next sweep of their process.
            log.exception("telling the sockets of user %s about a session change failed", user_id)

    transaction.on_commit(send)


def _checked(session_key: str, user_id: Any, touch: bool) -> bool:
    healthy_connections()
    return session_still_valid(session_key, user_id, touch=touch)


def _checked_many(checks: list[tuple[str, Any, bool]]) -> list[bool]:
    healthy_connections()
    return sessions_still_valid(checks)


# What the live page sends when it has heard nothing for a while (static/js/conference-live.js,
# docs/live-protocol.md "Keepalive"), answered with {"type": "pong"}.
KEEPALIVE = '{"type":"ping"}'


def is_keepalive(text: str | None) -> bool:
    """Whether a frame is only a keepalive (spaces aside: it is short)."""
    return text is not None and len(text) <= 32 and text.replace(" ", "") == KEEPALIVE


def session_still_valid(session_key: str | None, user_id: Any, *, touch: bool = False) -> bool:
    """The session exists, is not expired, is the same person's and matches their password.

    With the database session engine (Otagai's), one statement reads the session and the
    person's password, and a session's data is decoded once per version of it (`_decoded`):
    the sockets' re-checks were a tenth of the web process's CPU at 200 sockets
    (docs/performance.md, live fan-out, seventh round). `touch` when the session is due for
    it, and any other engine, take the session store's own way."""
    if not session_key or user_id is None:
        return False
    if settings.SESSION_ENGINE != DB_ENGINE:
        return _checked_by_store(session_key, user_id, touch=touch)
    row = _session_and_password(session_key, user_id)
    if row is None:
        return False  # no such session, expired, or the person is gone or inactive
    return _judged(session_key, user_id, touch, *row)


def _judged(session_key: str, user_id: Any, touch: bool, stored: str, password: str) -> bool:
    """The verdict on a session read with its person's password (`stored`: its data as
    stored): the session store's own way when a touch is due."""
    data = _decoded(stored)
    if touch and touch_due(data):
        return _checked_by_store(session_key, user_id, touch=True)
    from django.contrib.auth import get_user_model

    return _belongs(data, user_id, get_user_model()(pk=user_id, password=password))


DB_ENGINE = "django.contrib.sessions.backends.db"
_DECODED: dict[str, dict[str, Any]] = {}  # session data as stored -> decoded (read only)
_DECODED_MAX = 4096


def _decoded(session_data: str) -> dict[str, Any]:
    """The session's data, decoded (its signature checked) once per stored version: a
    session's data changes only when it is saved, at most once a minute while in use."""
    data = _DECODED.get(session_data)
    if data is None:
        from django.contrib.sessions.backends.db import SessionStore

        data = SessionStore().decode(session_data)  # {} if tampered with or unreadable
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        _DECODED[session_data] = data
    return data


def _session_and_password(session_key: str, user_id: Any) -> tuple[str, str] | None:
    """(session data, password hash) if the session exists and has not expired and the user
    exists and is active; one hand-written statement instead of two ORM queries."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.utils import timezone

    opts = get_user_model()._meta
    qn = connection.ops.quote_name

    def column(name: str) -> str:
        return qn(cast(str, cast(Field, opts.get_field(name)).column))

    pk = cast(Field, opts.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.{qn('session_data')}, u.{column('password')} "  # noqa: S608
            f"FROM {qn(Session._meta.db_table)} s JOIN {qn(opts.db_table)} u "
            f"ON u.{qn(cast(str, pk.column))} = %s AND u.{column('is_active')} "
            f"WHERE s.{qn('session_key')} = %s AND s.{qn('expire_date')} > %s",
            [
                pk.get_prep_value(user_id),
                session_key,
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None


def sessions_still_valid(checks: list[tuple[str, Any, bool]]) -> list[bool]:
    """`session_still_valid` for many (session key, user id, touch) at once: with the database
    session engine, the sessions in one statement and their people's passwords in another,
    whatever their number (in chunks of `_CHUNK`); a session due for its touch, and any other
    engine, take `session_still_valid`'s way one by one."""
    if settings.SESSION_ENGINE != DB_ENGINE:
        return [session_still_valid(k, u, touch=t) for k, u, t in checks]
    keys = sorted({k for k, u, _t in checks if k and u is not None})
    sessions = _sessions(keys)
    users = _passwords(sorted({u for k, u, _t in checks if k in sessions}))
    out = []
    for key, user_id, touch in checks:
        stored = sessions.get(key)
        password = users.get(user_id)
        if stored is None or password is None:
            out.append(False)  # no such session, expired, or the person is gone or inactive
        else:
            out.append(_judged(key, user_id, touch, stored, password))
    return out


_CHUNK = 500  # keys per statement: well inside every database's limit on parameters


def _sessions(keys: list[str]) -> dict[str, str]:
    """Session key -> stored data, for the keys whose session exists and has not expired."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    now = timezone.now()
    found: dict[str, str] = {}
    for i in range(0, len(keys), _CHUNK):
        rows = Session.objects.filter(
            session_key__in=keys[i : i + _CHUNK], expire_date__gt=now
        ).values_list("session_key", "session_data")
        found.update(rows)
    return found


def _passwords(user_ids: list[Any]) -> dict[Any, str]:
    """User id -> password hash, for the active people among `user_ids`."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    found: dict[Any, str] = {}
    for i in range(0, len(user_ids), _CHUNK):
        rows = model._default_manager.filter(
            pk__in=user_ids[i : i + _CHUNK], is_active=True
        ).values_list("pk", "password")
        found.update(rows)
    return found


def _checked_by_store(session_key: str, user_id: Any, *, touch: bool) -> bool:
    """The same check through the session store and the ORM (and the touch, if due)."""
    from django.contrib.auth import get_user_model

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)  # type: ignore[attr-defined]
    data = store.load()  # {} when expired or missing
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None or not _belongs(data, user_id, user):
        return False
    if touch and touch_due(data):
        store[TOUCH_KEY] = int(time.time())
        store.save()
    return True


def _belongs(data: dict[str, Any], user_id: Any, user: Any) -> bool:
    """Whether the session's data is `user`'s, logged in as now: their id, a backend we use,
    their password's hash (a password change ends every other session), and the second
    factor if they owe one."""
    from django_otp import DEVICE_ID_SESSION_KEY

    if not data or str(data.get(SESSION_KEY)) != str(user_id):
        return False
    backend = data.get(BACKEND_SESSION_KEY, "")
    if backend and not backend.endswith(("ModelBackend", "AxesStandaloneBackend")):
        return False
    if not constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return False  # the password changed since: every other session ends
    return not (data.get(REQUIRED_KEY) and not data.get(DEVICE_ID_SESSION_KEY))  # owes 2FA


def sweep_interval() -> float:
    """Seconds between two sweeps of a process's sockets: half the bound, so that a socket's
    last check is never older than the bound while the sweeps keep up."""
    return max(0.2, float(getattr(settings, "SESSION_RECHECK_SECONDS", 10)) / 2)


class SessionSweep:
    """The sessions of one event loop's guarded sockets, checked together every
    `sweep_interval()` seconds: two statements for all of them (`sessions_still_valid`), in a
    worker thread, instead of a check (a thread hop and a statement) per socket in use every
    few seconds — at 30 sockets in a meeting four checks a second, each in the way of the
    operations beside it (docs/performance.md, the live fan-out's "Fourteenth round")."""

    def __init__(self) -> None:
        self.sockets: set[SessionGuardMixin] = set()
        self.task: asyncio.Task[None] | None = None

    def add(self, socket: SessionGuardMixin) -> None:
        self.sockets.add(socket)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, socket: SessionGuardMixin) -> None:
        self.sockets.discard(socket)
        if not self.sockets and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(sweep_interval())
            try:
                await self.sweep()
            except Exception:
                # The database may be back at the next sweep; meanwhile a socket whose last
                # check is older than the bound checks before its next message.
                log.exception("checking the sessions of the open sockets failed")

    async def sweep(self) -> None:
        """Check every socket's session now; close those whose session has ended."""
        sockets = [s for s in self.sockets if not s._session_ended]
        if not sockets:
            return
        started = time.time()
        checks = []
        for socket in sockets:
            key, user_id = socket._guard_key_and_user()
            # A message since the last sweep: the session is in use (touched if due).
            checks.append((key or "", user_id, socket._session_active))
            socket._session_active = False
        try:
            results = await sync_to_async(_checked_many, thread_sensitive=False)(checks)
        except BaseException:
            for socket, (_key, _user, active) in zip(sockets, checks, strict=True):
                socket._session_active = socket._session_active or active
            raise
        for socket, ok in zip(sockets, results, strict=True):
            if socket not in self.sockets or socket._session_ended:
                continue
            if ok:
                socket._session_checked_at = max(socket._session_checked_at, started)
                continue
            try:
                await socket._end_for_session()
            except Exception:
                # One socket's failure (its client gone, say) is not the others'.
                log.exception("closing a socket whose session ended")


_SWEEPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionSweep] = (
    weakref.WeakKeyDictionary()
)


def session_sweep() -> SessionSweep:
    return per_event_loop(_SWEEPS, SessionSweep)


class SessionGuardMixin:
    """First base of an AsyncConsumer-based WebSocket consumer (see the module docstring)."""

    _session_watch: asyncio.Task | None = None
    _session_checked_at: float = 0.0  # time.time() of the last check
    _session_wake: asyncio.Event | None = None
    _session_grouped: bool = False
    _session_active: bool = False  # a message since the last check (the touch is due then)
    _session_ended: bool = False  # found ended: closing

    def _guard_key_and_user(self) -> tuple[str | None, Any]:
        scope: dict[str, Any] = self.scope  # type: ignore[attr-defined]
        session = scope.get("session")
        user = scope.get("user")
        key = getattr(session, "session_key", None) if session is not None else None
        user_id = user.pk if user is not None and user.is_authenticated else None
        return key, user_id

    async def _session_ok(self, *, touch: bool = False) -> bool:
        key, user_id = self._guard_key_and_user()
        if key is None:
            # No session behind the user: nothing to guard. In the served stack
            # (AuthMiddlewareStack) a user only comes from a session, so this is only unit
            # tests that set scope["user"] directly.
            return True
        if user_id is None:
            return True  # anonymous sockets are refused by the consumer itself
        self._session_checked_at = time.time()
        if touch:
            self._session_active = False
        # Not in the single database thread: a check must not queue behind other sockets.
        return await sync_to_async(_checked, thread_sensitive=False)(key, user_id, touch)

    async def _end_for_session(self) -> None:
        self._session_ended = True
        await self.close(code=CLOSE_SESSION_ENDED)  # type: ignore[attr-defined]

    async def _watch_session(self) -> None:
        """Check at once whenever `session_changed` says so (the sweep does the rest)."""
        wake = self._session_wake = asyncio.Event()
        while True:
            await wake.wait()
            wake.clear()
            if not await self._session_ok():
                await self._end_for_session()
                return

    async def session_changed(self, message: dict[str, Any]) -> None:
        """Group handler: a session of this user ended somewhere; the watch checks now."""
        if self._session_wake is not None:
            self._session_wake.set()

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        if not await self._session_ok():
            # e.g. a coordinator who has not entered the second factor yet
            await self._end_for_session()
            return
        key, user_id = self._guard_key_and_user()
        layer = getattr(self, "channel_layer", None)
        if key is not None and user_id is not None and layer is not None:
            await layer.group_add(session_group(user_id), self.channel_name)  # type: ignore[attr-defined]
            self._session_grouped = True
        await super().websocket_connect(message)  # type: ignore[misc]
        if key is not None and user_id is not None and self._session_watch is None:
            # Watched (`session_changed`) and swept, from here to the disconnect.
            self._session_watch = asyncio.create_task(self._watch_session())
            session_sweep().add(self)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        # A page's keepalive checks the connection; it is not the person using the page, so
        # it does not renew the session's idle expiry (a page left open still times out).
        in_use = not is_keepalive(message.get("text"))
        recheck = float(getattr(settings, "SESSION_RECHECK_SECONDS", 10))
        if time.time() - self._session_checked_at >= recheck:
            # The sweep is late (or failing): this message waits for a check of its own.
            if not await self._session_ok(touch=in_use):
                await self._end_for_session()
                return
        elif in_use:
            self._session_active = True
        await super().websocket_receive(message)  # type: ignore[misc]

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self._session_watch is not None:
            self._session_watch.cancel()
            self._session_watch = None
            session_sweep().discard(self)
        if self._session_grouped:
            _key, user_id = self._guard_key_and_user()
            await self.channel_layer.group_discard(session_group(user_id), self.channel_name)  # type: ignore[attr-defined]
            self._session_grouped = False
        await super().websocket_disconnect(message)  # type: ignore[misc]
