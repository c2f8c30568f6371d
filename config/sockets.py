"""What every WebSocket consumer of ours needs from the server's side of the connection."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

SendEvent = Callable[[dict[str, Any]], Awaitable[None]]


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
