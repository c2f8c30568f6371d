"""The live conference socket. See docs/live-protocol.md for the frames.

Authorise on connect, re-check through `permissions.conferences` on every operation, apply it
through a service (`database_sync_to_async`), acknowledge after the commit. Group handlers
only filter (by the reader's tier per case) and send; they never write to the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import connections
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import trans_real

from conferences import events, live, selectors, services
from conferences.events import encode, frame_for, group_name, message_for
from conferences.models import Conference, ConferenceEvent, Presence
from config.session_guard import SessionGuardMixin
from permissions.conferences import ConferenceAccess, conference_access, refresh_access
from permissions.rls import reader_context, with_reader

log = logging.getLogger(__name__)

MAX_FRAME = 256 * 1024  # a 20,000-character note, JSON-escaped, fits
# Seconds to wait for an event that arrives out of order before reading it from the log. Two
# operations committed one after the other may be broadcast in the other order; the missing
# one normally arrives within milliseconds, so the log is read only when it was really lost.
GAP_WAIT = 1.0
REFRESH_ACCESS = 10.0  # seconds between re-reads of the reader's tiers and of the log's end


def _keep_connection(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` with the database connection of the consumers' thread kept open between
    operations (a new PostgreSQL connection per operation costs more than the operation);
    a connection that had errors is health-checked and replaced, as Django does."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and conn.errors_occurred:
                if conn.is_usable():
                    conn.errors_occurred = False
                else:
                    conn.close()
        return fn(*args, **kwargs)

    return sync_to_async(wrapped, thread_sensitive=True)


def language_from_scope(scope: dict[str, Any]) -> str:
    """The user's language: the language cookie, else Accept-Language, else the default."""
    supported = {code for code, _name in settings.LANGUAGES}
    cookie = (scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME, "")
    if cookie in supported:
        return cookie
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            for lang, _q in trans_real.parse_accept_lang_header(value.decode()):
                try:
                    return translation.get_supported_language_variant(lang)
                except LookupError:
                    continue
    return settings.LANGUAGE_CODE


class ConferenceConsumer(SessionGuardMixin, AsyncWebsocketConsumer):
    access: ConferenceAccess
    cursor: int | None

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.lang = language_from_scope(self.scope)
        self.joined = False
        self.cursor = None
        self.buffer: dict[int, dict[str, Any]] = {}
        self.pending_seq: int | None = None
        self.gap_task: asyncio.Task | None = None
        self.refresh_task: asyncio.Task | None = None
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            self.conference_id = int(self.scope["url_route"]["kwargs"]["pk"])
        except (KeyError, ValueError):
            await self.close(code=4404)
            return
        access = await database_sync_to_async(self._load_access)()
        if access is None:
            # Not invited: the conference does not exist for this user.
            await self.close(code=4404)
            return
        self.access = access
        await self.accept()
        if not access.acknowledged:
            await self._send(
                {
                    "type": "ack_required",
                    "statement": access.conference.confidentiality_statement,
                }
            )
            return
        await self._join()

    @with_reader
    def _load_access(self) -> ConferenceAccess | None:
        try:
            conference = Conference.objects.select_related("chair").get(pk=self.conference_id)
        except Conference.DoesNotExist:
            return None
        return conference_access(self.user, conference)

    async def disconnect(self, code: int) -> None:
        for task in (self.gap_task, self.refresh_task):
            if task is not None:
                task.cancel()
        if self.joined:
            await self.channel_layer.group_discard(
                group_name(self.conference_id), self.channel_name
            )
            entry = await database_sync_to_async(self._presence_remove)()
            await self._broadcast_presence(entry)

    # --- joining -----------------------------------------------------------------------------

    async def _join(self) -> None:
        await self.channel_layer.group_add(group_name(self.conference_id), self.channel_name)
        self.joined = True
        entry = await database_sync_to_async(self._presence_add)()
        await self._send(self._welcome())
        await self._broadcast_presence(entry)
        self.refresh_task = asyncio.create_task(self._refresh_loop())
        if self.pending_seq is not None:
            await self._resync(self.pending_seq)

    def _welcome(self) -> dict[str, Any]:
        a = self.access
        return {
            "type": "welcome",
            "user": self.user.pk,
            "chair": a.is_chair,
            "state": a.conference.state,
            "writable_cases": [c for c in a.tiers if a.may_write(c)],
            "general_writable": a.may_write(None),
        }

    @with_reader
    def _presence_add(self) -> dict[str, Any]:
        Presence.objects.get_or_create(
            channel_name=self.channel_name,
            defaults={"conference_id": self.conference_id, "user": self.user},
        )
        services.participant_joined(access=self.access)
        return self._presence_entry(online=True)

    @with_reader
    def _presence_remove(self) -> dict[str, Any]:
        Presence.objects.filter(channel_name=self.channel_name).delete()
        online = Presence.objects.filter(conference_id=self.conference_id, user=self.user).exists()
        return self._presence_entry(online=online)

    def _presence_entry(self, *, online: bool) -> dict[str, Any]:
        from permissions.models import Agency

        agency = Agency.objects.filter(pk=self.access.agency_id or 0).values_list("name", flat=True)
        return {
            "user": self.user.pk,
            "name": live.person_name(self.user),
            "agency": agency.first() or "",
            "online": online,
        }

    async def _broadcast_presence(self, entry: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            group_name(self.conference_id), {"type": "conference.presence", "presence": entry}
        )

    # --- receiving ---------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Error frames speak the reader's language, not the server's default.
        with translation.override(self.lang):
            await self._receive(text_data)

    async def _receive(self, text_data: str | None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME:
            await self._error(None, "invalid", _("The message is too large or not text."))
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error(None, "malformed", _("The message is not valid JSON."))
            return
        if not isinstance(content, dict):
            await self._error(None, "malformed", _("The message must be a JSON object."))
            return
        kind = content.get("type")
        if kind == "hello":
            after = content.get("last_seq", 0)
            after = after if isinstance(after, int) and not isinstance(after, bool) else 0
            if not self.joined:
                self.pending_seq = max(after, 0)
                if not self.access.acknowledged:
                    await self._send(
                        {
                            "type": "ack_required",
                            "statement": self.access.conference.confidentiality_statement,
                        }
                    )
                return
            await self._resync(max(after, 0))
        elif kind == "acknowledge":
            if not self.joined:
                await database_sync_to_async(self._acknowledge)()
                await self._join()
        elif kind == "op":
            if not self.joined:
                await self._error(
                    content.get("id"),
                    "ack_required",
                    _("Acknowledge the confidentiality statement first."),
                )
                return
            await self._op(content)
        elif kind == "ping":
            await self._send({"type": "pong"})
        else:
            await self._error(None, "unknown_type", _("Unknown message type."))

    @with_reader
    def _acknowledge(self) -> None:
        with translation.override(self.lang):
            services.conference_acknowledge(actor=self.user, access=self.access)
        if self.pending_seq is None:
            self.pending_seq = 0

    async def _op(self, content: dict[str, Any]) -> None:
        op_id = content.get("id")
        op_id = op_id if isinstance(op_id, str) else None
        try:
            result, outbox = await _keep_connection(self._apply)(content)
        except live.OpError as exc:
            await self._error(op_id, exc.code, exc.message)
        except live.OpConflict as exc:
            await self._send(
                {
                    "type": "conflict",
                    "id": op_id,
                    "current": exc.current,
                    "yours": exc.yours,
                    "message": self._t(
                        "Someone changed this entry while you were editing it. Both "
                        "versions are shown: choose what to keep."
                    ),
                }
            )
        else:
            # Committed: broadcast (from this loop), then acknowledge.
            for conference_id, message in outbox:
                await self.channel_layer.group_send(group_name(conference_id), message)
            await self._send(
                {
                    "type": "ack",
                    "id": op_id,
                    "seq": result.seq,
                    "result": result.data,
                    "duplicate": result.duplicate,
                }
            )

    def _apply(self, content: dict[str, Any]) -> tuple[live.OpResult, list]:
        with translation.override(self.lang), events.collect() as outbox, reader_context(self.user):
            op_id = live.validate_op_id(content.get("id"))
            op = content.get("op")
            if not isinstance(op, str) or op not in live.OPS:
                raise live.OpError(
                    "unknown_op", _("Unknown operation: %(op)s.") % {"op": str(op)[:40]}
                )
            # Re-check on every operation: shares, invitation or acknowledgement may have
            # changed since the socket opened.
            access = refresh_access(self.access)
            if access is None:
                raise live.OpError("not_found", _("This meeting is no longer open to you."))
            self.access = access
            args = content.get("args", {})
            result = live.live_apply(
                actor=self.user, access=access, client_op_id=op_id, op=op, args=args
            )
        return result, outbox

    def _t(self, message: str) -> str:
        with translation.override(self.lang):
            return _(message)

    async def _error(self, op_id: Any, code: str, message: str) -> None:
        if op_id is not None and not isinstance(op_id, str):
            op_id = None
        await self._send({"type": "error", "id": op_id, "code": code, "message": message})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))

    # --- catching up -------------------------------------------------------------------------

    async def _resync(self, after: int) -> None:
        """Send what the client missed since `after` (or a snapshot), then live events."""
        frames, upto, snap = await database_sync_to_async(self._catch_up)(after)
        if snap is not None:
            await self._send(snap)
        else:
            for frame in frames:
                await self._send(frame)
        self.cursor = upto
        self.buffer = {s: m for s, m in self.buffer.items() if s > upto}
        await self._send({"type": "synced", "seq": upto})
        await self._drain()

    @with_reader
    def _catch_up(self, after: int) -> tuple[list[dict[str, Any]], int, dict[str, Any] | None]:
        upto = selectors.last_seq(self.conference_id)
        if after <= 0 or after > upto:
            snap = selectors.snapshot(self.access)
            return [], snap["seq"], snap
        frames = selectors.replay_frames(self.access, after, upto)
        if frames is None:
            snap = selectors.snapshot(self.access)
            return [], snap["seq"], snap
        return frames, upto, None

    # --- group handlers: filter and send, never write ------------------------------------------

    async def conference_event(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if self.cursor is None:
            # Not synced yet: this event is committed, so the catch-up from the log that
            # `hello` triggers will include it (handlers run one at a time, never during it).
            return
        if seq <= self.cursor:
            return  # already sent (replay, or a duplicate delivery)
        self.buffer[seq] = message
        await self._drain()

    async def _drain(self) -> None:
        while self.cursor is not None and self.cursor + 1 in self.buffer:
            message = self.buffer.pop(self.cursor + 1)
            self.cursor += 1
            if message["event"] == "conference.state":
                self.access.conference.state = message["data"]["state"]
            if self.access.reads(message["case"], message["tier"], message["below"]):
                # The frame is encoded once by the sender, not once per reader.
                text = message.get("text") or encode(frame_for(message, self.access.reads))
                await self.send(text_data=text)
        if self.buffer and (self.gap_task is None or self.gap_task.done()):
            # An event is missing (delivered out of order, or dropped): read it from the log.
            self.gap_task = asyncio.create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        await asyncio.sleep(GAP_WAIT)
        if self.cursor is None or not self.buffer:
            return
        first_missing = self.cursor + 1
        upto = min(self.buffer) - 1
        if upto < first_missing:
            await self._drain()
            return
        # Not in the operations' thread: a burst of gap reads must not hold up operations.
        messages = await database_sync_to_async(self._read_log_as_reader, thread_sensitive=False)(
            first_missing, upto
        )
        for m in messages:
            self.buffer.setdefault(m["seq"], m)
        await self._drain()

    @with_reader
    def _read_log_as_reader(self, first: int, last: int) -> list[dict[str, Any]]:
        return self._read_log(first, last)

    def _read_log(self, first: int, last: int) -> list[dict[str, Any]]:
        rows = ConferenceEvent.objects.filter(
            conference_id=self.conference_id, seq__gte=first, seq__lte=last
        ).order_by("seq")
        return [message_for(e) for e in rows]

    async def _refresh_loop(self) -> None:
        """Now and then: re-read the reader's tiers (a share revoked mid-meeting applies), and
        catch up with the log — an event the channel layer dropped (a full channel) with no
        later event to reveal the gap would otherwise wait for the next one."""
        while True:
            await asyncio.sleep(REFRESH_ACCESS)
            access, messages = await database_sync_to_async(self._refresh, thread_sensitive=False)(
                self.cursor
            )
            if access is None:
                await self.close(code=4404)
                return
            self.access = access
            for m in messages:
                self.buffer.setdefault(m["seq"], m)
            await self._drain()

    @with_reader
    def _refresh(self, cursor: int | None) -> tuple[ConferenceAccess | None, list[dict[str, Any]]]:
        access = refresh_access(self.access)
        if access is None or cursor is None:
            return access, []
        newest = selectors.last_seq(self.conference_id)
        return access, self._read_log(cursor + 1, newest) if newest > cursor else []

    async def conference_presence(self, message: dict[str, Any]) -> None:
        await self._send({"type": "presence", **message["presence"]})


class BroadcastFloorConsumer(AsyncWebsocketConsumer):
    """The transport's floor for benchmarks/live_fanout.py: a bare group broadcast with no
    database, no permission check. Routed only when OTAGAI_BENCHMARK_ROUTES=1."""

    async def connect(self) -> None:
        self.group = f"floor-{self.scope['url_route']['kwargs']['room']}"
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
