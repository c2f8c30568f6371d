"""What every WebSocket consumer of ours needs from the server's side of the connection."""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SendEvent = Callable[[dict[str, Any]], Awaitable[None]]


def per_event_loop[T](
    registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T], make: Callable[[], T]
) -> T:
    """The running event loop's one `T` in `registry`, made by `make` the first time: one per
    server process (uvicorn runs one loop), one per test (each runs in a loop of its own)."""
    loop = asyncio.get_running_loop()
    found = registry.get(loop)
    if found is None:
        found = registry[loop] = make()
    return found


def healthy_connections() -> None:
    """Before a socket's database work in a worker thread: the thread's connections are kept
    between calls (a new connection per call costs more than the call), and one that had
    errors is health-checked and given back or replaced, as Django does between requests."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


class ClientGoneMixin:
    """A first base of an AsyncConsumer-based consumer: a frame sent to a client already gone
    is dropped, not raised.

    uvicorn raises `ClientDisconnected` (an OSError) on a send once the client's close (or
    the lost connection) has arrived, and queues the disconnect for the consumer behind the
    message it is handling. Raised out of a handler (a group message being passed on, an
    acknowledgement after a commit), the error ended the consumer without its `disconnect`:
    a live socket's presence row, group membership and re-read registration stayed until the
    process stopped, showing the person as here. Dropped, the consumer reads the queued
    disconnect next and cleans up as after any close."""

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: SendEvent
    ) -> None:
        async def send_or_drop(message: dict[str, Any]) -> None:
            try:
                await send(message)
            except OSError:
                if message.get("type") not in {"websocket.send", "websocket.close"}:
                    raise
                log.debug("dropped a %s to a client already gone", message.get("type"))

        await super().__call__(scope, receive, send_or_drop)  # type: ignore[misc]


COMPRESSION_REFUSED = (
    "uvicorn is serving the WebSockets with permessage-deflate (its default). Start it with "
    "--ws-per-message-deflate false: with compression, the sizes of a participant's frames "
    'can reveal notes above their tier (docs/deploy.md, "WebSockets").'
)


def uvicorn_compresses_sockets() -> bool | None:
    """Whether the uvicorn that is importing the application (its `Config.load` is on the
    stack) serves WebSockets with permessage-deflate; None when no uvicorn `Config` is
    importing it (daphne, a test, a shell, a management command)."""
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        if frame.f_globals.get("__name__") == "uvicorn.config":
            config: Any = frame.f_locals.get("self")
            if hasattr(config, "ws_per_message_deflate") and hasattr(config, "ws"):
                return config.ws != "none" and bool(config.ws_per_message_deflate)
        frame = frame.f_back
    return None


def refuse_compressed_sockets(*, debug: bool) -> None:
    """Called as the application is imported (config/asgi.py): a uvicorn left compressing the
    sockets stops with COMPRESSION_REFUSED in production (it would leak a higher tier's text
    by size: docs/deploy.md, "WebSockets"), and is warned about in development."""
    from django.core.exceptions import ImproperlyConfigured

    if not uvicorn_compresses_sockets():
        return
    if not debug:
        raise ImproperlyConfigured(COMPRESSION_REFUSED)
    log.warning(COMPRESSION_REFUSED)
