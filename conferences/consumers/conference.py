"""The live conference socket. See docs/live-protocol.md for the frames.

Authorise on connect; apply operations through `conferences.live` (in `db.apply_op`),
acknowledge after the commit. The reader's access is kept in memory and read again every
ACCESS_MAX_AGE seconds, before an operation when it is older than that, and at once when a
share of one of the meeting's cases changes (a `conference.shares` group message). Group
handlers only filter (by the reader's tier per case, from the message) and send; they never
touch the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import trans_real

from conferences import live
from conferences.consumers import db, local, presence, refresher
from conferences.consumers.dispatch import DirectDispatchMixin
from conferences.events import encode, frame_for, group_name
from config.session_guard import SessionGuardMixin
from config.sockets import ClientGoneMixin
from permissions.conferences import ConferenceAccess

log = logging.getLogger(__name__)

MAX_FRAME = 256 * 1024  # a 20,000-character note, JSON-escaped, fits
# Seconds to wait for an event that arrives out of order before reading it from the log. Two
# operations committed one after the other may be broadcast in the other order; the missing
# one normally arrives within milliseconds, so the log is read only when it was really lost.
GAP_WAIT = 1.0
# The longest a reader's access (tiers, invitation, acknowledgement) is trusted before it is
# read again, and the interval of the check of the log's end. A share changed through
# `permissions.services` takes effect at once; any other change (an expiry date passing, a
# role changed by an administrator) within this bound.
ACCESS_MAX_AGE = 5.0


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


class ConferenceConsumer(
    ClientGoneMixin, SessionGuardMixin, DirectDispatchMixin, AsyncWebsocketConsumer
):
    access: ConferenceAccess
    cursor: int | None
    # Handlers running (0 or 1; `local` counts its hand-overs too): a socket handling nothing
    # may be handed an event directly (conferences.consumers.local).
    handling = 0

    async def dispatch(self, message: dict[str, Any]) -> None:
        self.handling += 1
        started = getattr(self.channel_layer, "handling_started", None)  # config.layers (Redis)
        if started is not None:
            started(self.channel_name)
        try:
            await super().dispatch(message)
        finally:
            self.handling -= 1

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.lang = language_from_scope(self.scope)
        self.joined = False
        self.left = False
        # The presence version of each person this socket's page holds (frames, snapshot).
        self.presence_held: dict[int, int] = {}
        self.cursor = None
        self.buffer: dict[int, dict[str, Any]] = {}
        self.pending_seq: int | None = None
        self.gap_task: asyncio.Task | None = None
        self.access_read_at = time.monotonic()
        # Set by a `conference.shares` message: deliveries wait until the refresher has read
        # the access again.
        self.holding = False
        self.agenda_cases: dict[int, int | None] = {}
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            self.conference_id = int(self.scope["url_route"]["kwargs"]["pk"])
        except (KeyError, ValueError):
            await self.close(code=4404)
            return
        access = await db.run_read(self.user, db.load_access, self.user, self.conference_id)
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

    async def disconnect(self, code: int) -> None:
        if self.gap_task is not None:
            self.gap_task.cancel()
        if self.joined:
            local.unregister(self)
            refresher.unregister(self)
            await self.channel_layer.group_discard(
                group_name(self.conference_id), self.channel_name
            )
            # Before the leave takes its lock: a heartbeat's re-announce must not put it back.
            self.left = True
            presence.liveness().depart(self)
            entry = await db.run(self.user, presence.leave, self.access, self.channel_name)
            await self._broadcast_presence(entry)

    # --- joining -----------------------------------------------------------------------------

    async def _join(self) -> None:
        await self.channel_layer.group_add(group_name(self.conference_id), self.channel_name)
        self.joined = True
        local.register(self)
        process = await presence.liveness().arrive(self)
        try:
            entry = await db.run(self.user, presence.join, self.access, self.channel_name, process)
        except BaseException:
            # Not here: the heartbeat must not announce this socket again.
            self.left = True
            presence.liveness().depart(self)
            raise
        await self._send(self._welcome())
        await self._broadcast_presence(entry)
        refresher.register(self)
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

    async def _broadcast_presence(self, entry: dict[str, Any]) -> None:
        await presence.broadcast(self.conference_id, entry)

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
                try:
                    await db.run(self.user, db.acknowledge, self.user, self.access, self.lang)
                except ValidationError as exc:  # the meeting is closed
                    await self._error(None, "closed", " ".join(exc.messages))
                    return
                if self.pending_seq is None:
                    self.pending_seq = 0
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

    async def _op(self, content: dict[str, Any]) -> None:
        op_id = content.get("id")
        op_id = op_id if isinstance(op_id, str) else None
        # The meeting's sockets, read from the channel layer while the database works (not
        # after the commit, on the way to the other participants). A socket that joins
        # meanwhile gets the event from the log: its catch-up after `hello`, or at the latest
        # the log check every ACCESS_MAX_AGE (docs/live-protocol.md).
        members = self._members_soon()
        try:
            stale = time.monotonic() - self.access_read_at > ACCESS_MAX_AGE
            access, result, outbox = await db.run(
                None, db.apply_op, self.access, content, self.lang, self.agenda_cases, stale
            )
            if stale and access is not None:
                self.access, self.access_read_at = access, time.monotonic()
        except live.OpError as exc:
            await self._error(op_id, exc.code, exc.message)
            return
        except live.OpConflict as exc:
            await self._send(
                {
                    "type": "conflict",
                    "id": op_id,
                    "current": exc.current,
                    "yours": exc.yours,
                    "message": _(
                        "Someone changed this entry while you were editing it. Both "
                        "versions are shown: choose what to keep."
                    ),
                }
            )
            return
        if access is None:
            await self._error(op_id, "not_found", _("This meeting is no longer open to you."))
            await self.close(code=4404)
            return
        # Committed: broadcast (from this loop), then acknowledge.
        for conference_id, message in outbox:
            await self._broadcast(conference_id, message, members)
        await self._send(
            {
                "type": "ack",
                "id": op_id,
                "seq": result.seq,
                "result": result.data,
                "duplicate": result.duplicate,
            }
        )

    def _members_soon(self) -> asyncio.Future[list[str]] | None:
        read = getattr(self.channel_layer, "group_members", None)  # config.layers (Redis)
        if read is None:
            return None
        future = asyncio.ensure_future(read(group_name(self.conference_id)))
        # Not every operation broadcasts (a refusal, a conflict): its failure is then unseen.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return future

    async def _broadcast(
        self,
        conference_id: int,
        message: dict[str, Any],
        members: asyncio.Future[list[str]] | None,
    ) -> None:
        group = group_name(conference_id)
        if members is not None and conference_id == self.conference_id:
            try:
                names = await members
            except Exception:
                # The usual way, below (which raises too if Redis is really gone).
                log.warning("reading the sockets of %s failed", group, exc_info=True)
            else:
                await local.deliver(self.channel_layer, group, names, message)
                return
        await self.channel_layer.group_send(group, message)

    async def _error(self, op_id: Any, code: str, message: str) -> None:
        if op_id is not None and not isinstance(op_id, str):
            op_id = None
        await self._send({"type": "error", "id": op_id, "code": code, "message": message})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))

    # --- catching up -------------------------------------------------------------------------

    async def _resync(self, after: int) -> None:
        """Send what the client missed since `after` (or a snapshot), then live events."""
        # A snapshot names generated agenda items in the reader's language.
        with translation.override(self.lang):
            frames, upto, snap, present = await db.run_read(
                self.user, db.catch_up, self.access, after
            )
        presence.hold(self.presence_held, snap or present or {})
        if snap is not None:
            # The agenda's items and their cases, which the operations' checks look up
            # (`checks.agenda_item`): a participant's first note on an item is then one
            # message to the database, not three (the reader's BEGIN, the lookup, the
            # operation: docs/performance.md, the live fan-out's "Eighteenth round"). Items
            # never move or go, so what is known stays true.
            self.agenda_cases.update({item["id"]: item["case"] for item in snap["agenda"]})
            await self._send(snap)
        else:
            for frame in frames:
                await self._send(frame)
        self.cursor = upto
        self.buffer = {s: m for s, m in self.buffer.items() if s > upto}
        synced: dict[str, Any] = {"type": "synced", "seq": upto}
        if present is not None:
            synced.update(present)  # presence, presence_gone
        await self._send(synced)
        await self._drain()

    # --- group handlers: filter and send, never touch the database -------------------------------

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

    async def conference_shares(self, message: dict[str, Any]) -> None:
        """A share of one of the meeting's cases changed: hold deliveries until the reader's
        access has been read again (the refresher does it now)."""
        self.holding = True
        refresher.wake(self.conference_id)

    async def conference_presence(self, message: dict[str, Any]) -> None:
        await self.presence_send([message["presence"]])

    async def presence_send(self, entries: list[dict[str, Any]]) -> None:
        """Pass on the presence entries newer than what the page holds (a frame late or
        duplicated is dropped; the heartbeat's re-read brings what the layer lost)."""
        for entry in entries:
            if entry["version"] > self.presence_held.get(entry["user"], 0):
                self.presence_held[entry["user"]] = entry["version"]
                await self._send({"type": "presence", **entry})

    async def _drain(self) -> None:
        if self.holding:
            return  # the refresh loop drains once the access is read again
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
        messages = await db.run_read(
            self.user, db.read_log, self.conference_id, first_missing, upto
        )
        for m in messages:
            self.buffer.setdefault(m["seq"], m)
        await self._drain()

    async def access_refreshed(
        self,
        access: ConferenceAccess | None,
        messages: list[dict[str, Any]],
        *,
        again: bool,
    ) -> None:
        """From the refresher: the reader's access read again (None: gone), and the log's
        recent events (any this socket lacks join its buffer). `again`: another change
        arrived meanwhile, deliveries keep waiting for the next read."""
        if access is None:
            await self.close(code=4404)
            return
        self.access, self.access_read_at = access, time.monotonic()
        if not again:
            self.holding = False
        if self.cursor is not None:
            for m in messages:
                if m["seq"] > self.cursor:
                    self.buffer.setdefault(m["seq"], m)
        await self._drain()
