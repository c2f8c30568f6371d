"""A minimal authenticated socket used by the health of the live stack and by tests."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.session_guard import SessionGuardMixin
from config.sockets import ClientGoneMixin


class PingConsumer(ClientGoneMixin, SessionGuardMixin, AsyncJsonWebsocketConsumer):
    """Accepts only logged-in users; answers {"type": "pong"} to anything."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json({"type": "pong"})
