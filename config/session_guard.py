"""WebSocket consumers close when the session behind them ends.

A socket outlives the page that opened it; without this, a person whose session expired
(idle time), who logged out, or whose password was changed elsewhere would keep receiving a
live conference. `SessionGuardMixin` goes first in a consumer's bases: it checks the
session before each message and every SESSION_CHECK_SECONDS, and closes with 4401 once the
session is gone, expired, belongs to someone else or no longer matches the password. A
message counts as activity: it renews the session's idle timer (at most once a minute).
"""

from __future__ import annotations

import asyncio
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare

from config.twofactor import REQUIRED_KEY, TOUCH_KEY
from permissions.rls import reader_context

CLOSE_SESSION_ENDED = 4401


def session_still_valid(session_key: str | None, user_id: Any, *, touch: bool = False) -> bool:
    """The session exists, is not expired, is the same person's and matches their password."""
    if not session_key or user_id is None:
        return False
    from django.contrib.auth import get_user_model
    from django_otp import DEVICE_ID_SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)  # type: ignore[attr-defined]
    data = store.load()  # {} when expired or missing
    if not data or str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    backend = data.get(BACKEND_SESSION_KEY, "")
    if backend and not backend.endswith(("ModelBackend", "AxesStandaloneBackend")):
        return False
    if not constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return False  # the password changed since: every other session ends
    if data.get(REQUIRED_KEY) and not data.get(DEVICE_ID_SESSION_KEY):
        return False  # owes a second factor
    if touch and int(time.time()) - int(data.get(TOUCH_KEY, 0)) >= 60:
        store[TOUCH_KEY] = int(time.time())
        store.save()
    return True


class SessionGuardMixin:
    """First base of an AsyncConsumer-based WebSocket consumer (see the module docstring)."""

    _session_watch: asyncio.Task | None = None

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
        return await database_sync_to_async(self._session_still_valid)(key, user_id, touch)

    def _session_still_valid(self, key: str, user_id: Any, touch: bool) -> bool:
        with reader_context(self.scope.get("user")):  # type: ignore[attr-defined]
            return session_still_valid(key, user_id, touch=touch)

    async def _end_for_session(self) -> None:
        await self.close(code=CLOSE_SESSION_ENDED)  # type: ignore[attr-defined]

    async def _watch_session(self) -> None:
        interval = max(1, int(getattr(settings, "SESSION_CHECK_SECONDS", 60)))
        while True:
            await asyncio.sleep(interval)
            if not await self._session_ok():
                await self._end_for_session()
                return

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        if not await self._session_ok():
            # e.g. a coordinator who has not entered the second factor yet
            await self._end_for_session()
            return
        await super().websocket_connect(message)  # type: ignore[misc]
        key, user_id = self._guard_key_and_user()
        if key is not None and user_id is not None and self._session_watch is None:
            self._session_watch = asyncio.create_task(self._watch_session())

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if not await self._session_ok(touch=True):
            await self._end_for_session()
            return
        await super().websocket_receive(message)  # type: ignore[misc]

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self._session_watch is not None:
            self._session_watch.cancel()
            self._session_watch = None
        await super().websocket_disconnect(message)  # type: ignore[misc]
