"""The live safety-check tally (安否確認) of one declaration, per small area.

Authorised on connect and on every message; frames carry counts only, never names.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from casework.events import safety_group
from config.session_guard import SessionGuardMixin
from config.sockets import ClientGoneMixin
from permissions.rls import council_report_context, reader_context


@database_sync_to_async
def _tally_for(user: Any, declaration_id: int) -> list[dict[str, Any]] | None:
    """The tally if the user may watch it, else None."""
    from casework.watch_selectors import safety_tally
    from permissions import policy
    from permissions.models import Declaration

    with reader_context(user):
        declaration = Declaration.objects.filter(pk=declaration_id).first()
        if declaration is None or not policy.can_watch_tally(user, declaration):
            return None
    with council_report_context(user):  # counts over every case under the declaration
        return safety_tally(declaration)


class SafetyTallyConsumer(ClientGoneMixin, SessionGuardMixin, AsyncJsonWebsocketConsumer):
    group: str = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        try:
            self.declaration_id = int(self.scope["url_route"]["kwargs"]["pk"])
        except (KeyError, TypeError, ValueError):
            await self.close(code=4404)
            return
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        tally = await _tally_for(user, self.declaration_id)
        if tally is None:
            await self.close(code=4404)
            return
        self.group = safety_group(self.declaration_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "tally", "tally": tally})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Any message asks for the current tally; the right to see it is checked again.
        tally = await _tally_for(self.scope["user"], self.declaration_id)
        if tally is None:
            await self.close(code=4403)
            return
        await self.send_json({"type": "tally", "tally": tally})

    async def tally_update(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "tally", "tally": event["tally"]})
