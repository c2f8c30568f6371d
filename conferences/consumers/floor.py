"""The transport's floor for benchmarks/live_fanout.py."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from conferences.consumers.dispatch import DirectDispatchMixin
from config.sockets import ClientGoneMixin


class _Broadcast(AsyncWebsocketConsumer):
    """A bare group broadcast: every frame to everyone in the room, no database, no
    permission check."""

    prefix = "floor"

    async def connect(self) -> None:
        self.group = f"{self.prefix}-{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": "floor.message", "text": text_data}
        )

    async def floor_message(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])


class BroadcastFloorConsumer(ClientGoneMixin, DirectDispatchMixin, _Broadcast):
    """The broadcast, dispatching as the live consumer does (no per-message database hop).
    Routed only when OTAGAI_BENCHMARK_ROUTES=1."""


class StockBroadcastFloorConsumer(_Broadcast):
    """The same broadcast as Channels ships it, with nothing taken out: its dispatch runs
    `close_old_connections` in Channels' one sync thread before every message, as any stock
    consumer does. The issue's "bare Channels broadcast consumer", measured beside the stricter
    floor above (`live_fanout.py --stock-floor`). Routed only when OTAGAI_BENCHMARK_ROUTES=1."""

    prefix = "floor-stock"
