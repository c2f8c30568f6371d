"""The Redis channel layer: a group's members readable apart from the delivery, and a
process's own sockets served without a trip through Redis.

channels-redis's `group_send` reads the group's members (two round trips to Redis) and then
delivers (two more). The live page's operation waits for its commit before it may broadcast;
reading the members while the database works takes those first round trips off the path
from a note sent to its event received (`conferences.consumers.conference`). Every other
caller gets `group_send` as before, in two round trips instead of four: the members read in
one (one Lua command), the delivery in one.

A delivery to a channel received in this process, on this event loop, goes straight into its
buffer; only the other processes' channels go through Redis. And one task per process and
event loop moves what other processes send from Redis into the buffers, where channels-redis
has every receiver take turns at it under a lock. Together they take about 40 % of the
server's CPU off each broadcast to a meeting's 30 sockets (docs/performance.md, the live
fan-out's "Eleventh round").

Pinned to channels-redis 4.3 (pyproject.toml): `deliver` is the second half of its
`group_send`, with the message expiry folded into the delivery script; `receive` replaces its
receive for this process's channels and uses its `receive_single`, backup queue included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

log = logging.getLogger(__name__)

# Drop the channel's expired messages, then add the new one unless the channel is full:
# channels-redis's group_send script, with the expiry it sends as a separate pipeline first.
_DELIVER = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 2]
    local expiry = ARGV[#ARGV - 1]
    local expired_before = ARGV[#ARGV]
    for i=1,#KEYS do
        redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired_before)
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


# The group's members, those older than the group expiry dropped first (one command: redis-py's
# pipeline costs several times its CPU on the event loop).
_MEMBERS = """
    redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
    return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class RedisChannelLayer(_RedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This process's channels: created by `new_channel` (None), or being received on an
        # event loop (that loop).
        self._local: dict[str, asyncio.AbstractEventLoop | None] = {}
        # Per event loop, the task that moves this process's messages from Redis into the
        # channels' buffers.
        self._pumps: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        # This process's channels whose receiver has taken a message that its consumer has not
        # started handling yet (`handling_started`): see `has_pending`.
        self._taken: set[str] = set()

    async def new_channel(self, prefix: str = "specific") -> str:
        name = await super().new_channel(prefix)
        self._local[name] = None
        return name

    # --- receiving: one task per process reads Redis; each channel waits on its own buffer --

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message for `channel`. A process-local channel waits on its buffer alone;
        the process's messages are moved from Redis into the buffers by one task per event
        loop (`_pump`), not by whichever receiver holds a lock, as channels-redis does: that
        costs two tasks and a lock per receiver per message, with 30 sockets in a meeting
        30 of each per event."""
        real_channel = self.non_local_name(channel)
        if "!" not in channel or not real_channel.endswith(self.client_prefix + "!"):
            return await super().receive(channel)  # not a channel of this process
        self.require_valid_channel_name(channel)  # raises TypeError
        loop = asyncio.get_running_loop()
        self._local[channel] = loop
        self._pump_for(loop, real_channel)
        buffer = self.receive_buffer[channel]
        try:
            message = await buffer.get()
        except asyncio.CancelledError:
            # Its consumer has gone: what was buffered for it goes too, and what comes later
            # is dropped (`_pump`), not kept for a channel nobody will read.
            self._forget(channel, loop)
            raise
        if buffer.empty() and self.receive_buffer.get(channel) is buffer:
            del self.receive_buffer[channel]
        self._taken.add(channel)
        return message

    def _pump_for(self, loop: asyncio.AbstractEventLoop, real_channel: str) -> None:
        pump = self._pumps.get(loop)
        if pump is not None and not pump.done():
            return
        for other, task in list(self._pumps.items()):
            if other is loop:
                continue
            if not other.is_closed() and not task.done():
                raise RuntimeError(
                    "Two event loops are trying to receive() on one channel layer at once!"
                )
            # A closed loop's (a finished test's): its channels are gone with it.
            del self._pumps[other]
            for name in [n for n, owner in self._local.items() if owner is other]:
                self._forget(name, other)
        self._pumps[loop] = loop.create_task(self._pump(real_channel, loop))

    async def close_pools(self) -> None:
        # The reader first: its connection is about to close under it.
        pump = self._pumps.pop(asyncio.get_running_loop(), None)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        await super().close_pools()

    def _forget(self, channel: str, loop: asyncio.AbstractEventLoop) -> None:
        self._local.pop(channel, None)
        self._taken.discard(channel)
        self.receive_buffer.pop(channel, None)
        if not any(owner is loop for owner in self._local.values()):
            pump = self._pumps.pop(loop, None)
            if pump is not None:
                pump.cancel()

    async def _pump(self, real_channel: str, loop: asyncio.AbstractEventLoop) -> None:
        """Move the process's messages from Redis into the buffers of the channels received
        on this loop (or created and not yet received), until the last of them goes.
        Cancelling it loses nothing: a message popped and not yet handed on is still in
        channels-redis's backup queue, which the next receive moves back."""
        failing = False
        while True:
            try:
                names, message = await self.receive_single(real_channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis unreachable: keep trying (the sockets stay; the live page's periodic
                # log check brings them what they missed once it is back).
                log.log(
                    logging.DEBUG if failing else logging.ERROR,
                    "receiving from the channel layer failed; trying again",
                    exc_info=not failing,
                )
                failing = True
                await asyncio.sleep(1)
                continue
            failing = False
            for name in names if isinstance(names, list) else [names]:
                owner = self._local.get(name, False)
                if owner is None or owner is loop:
                    self.receive_buffer[name].put_nowait(message)

    def has_pending(self, channel: str) -> bool:
        """Whether a message for `channel` (of this process) is on its way to the consumer:
        waiting in its buffer, or taken from it and not yet handed to a handler (the consumer
        is woken a loop turn or two later). An event handed to the consumer directly
        (`conferences.consumers.local`) must not pass it."""
        if channel in self._taken:
            return True
        buffer = self.receive_buffer.get(channel)
        return buffer is not None and not buffer.empty()

    def handling_started(self, channel: str) -> None:
        """The consumer of `channel` has started handling what it took (see `has_pending`)."""
        self._taken.discard(channel)

    async def group_members(self, group: str) -> list[str]:
        """The group's channels now (those older than `group_expiry` dropped): one round
        trip, one command."""
        self.require_valid_group_name(group)  # raises TypeError
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        expired_before = int(time.time()) - self.group_expiry
        names = await connection.eval(_MEMBERS, 1, key, expired_before)
        return [x.decode("utf8") for x in names]

    async def deliver(self, group: str, members: list[str], message: dict[str, Any]) -> None:
        """Send `message` to `members` (as `group_members` read them): those received on this
        event loop straight into their buffers, the others in one round trip per Redis host.
        The local ones get the message as Redis would give it back (serialized and read
        again: what cannot cross to another process fails here too), one copy shared by all
        of them, as channels-redis shares one per process."""
        loop = asyncio.get_running_loop()
        here: list[str] = []
        elsewhere: list[str] = []
        for name in members:
            (here if self._local.get(name, False) is loop else elsewhere).append(name)
        if here:
            copy = self.deserialize(self.serialize(message))
            for name in here:
                self.receive_buffer[name].put_nowait(copy)
            if not elsewhere:
                return
        members = elsewhere
        by_connection, messages, capacities = self._map_channel_keys_to_connection(members, message)
        now = time.time()
        for index, keys in by_connection.items():
            args = [messages[k] for k in keys] + [capacities[k] for k in keys]
            args += [now, self.expiry, int(now) - int(self.expiry)]
            over = await self.connection(index).eval(_DELIVER, len(keys), *keys, *args)
            if over > 0:
                log.info("%s of %s channels over capacity in group %s", over, len(members), group)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.deliver(group, await self.group_members(group), message)
