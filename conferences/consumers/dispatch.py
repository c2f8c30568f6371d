"""Message dispatch without Channels' per-message database hop."""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name


class DirectDispatchMixin:
    """Channels (4.2+) runs `close_old_connections` in its one sync thread before *every*
    message a consumer handles, group messages included: a thread hop per delivery (435 a
    second with 30 participants), queued behind the database work of every socket, which
    (connections are not persistent: CONN_MAX_AGE is 0, pooled or not) would also give back
    the connection the operations keep open. The consumers
    using this mixin touch the database only through `conferences.consumers.db`, which keeps
    and health-checks its own connections, so they dispatch directly."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
