"""The Redis channel layer, with a group's members readable apart from the delivery.

channels-redis's `group_send` reads the group's members (two round trips to Redis) and then
delivers (two more). The live page's operation waits for its commit before it may broadcast;
reading the members while the database works takes those first round trips off the path
from a note sent to its event received (`conferences.consumers.conference`). Every other
caller gets `group_send` as before, in two round trips instead of four: the members read in
one (pipelined), the delivery in one.

Pinned to channels-redis 4.3 (pyproject.toml): `deliver` is the second half of its
`group_send`, with the message expiry folded into the delivery script.
"""

from __future__ import annotations

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


class RedisChannelLayer(_RedisChannelLayer):
    async def group_members(self, group: str) -> list[str]:
        """The group's channels now (those older than `group_expiry` dropped): one round
        trip."""
        self.require_valid_group_name(group)  # raises TypeError
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        pipe = connection.pipeline(transaction=False)
        pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        pipe.zrange(key, 0, -1)
        _, names = await pipe.execute()
        return [x.decode("utf8") for x in names]

    async def deliver(self, group: str, members: list[str], message: dict[str, Any]) -> None:
        """Send `message` to `members` (as `group_members` read them): one round trip per
        Redis host."""
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
