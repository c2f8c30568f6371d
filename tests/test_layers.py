"""config/layers.py: the Redis channel layer whose group members are read apart from the
delivery, on the real Redis (REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

pytestmark = pytest.mark.redis


@pytest.fixture
async def layer() -> AsyncIterator[object]:
    from config.layers import RedisChannelLayer

    layer = RedisChannelLayer(
        hosts=[os.environ.get("REDIS_URL", "")],
        prefix=f"layers-test-{uuid.uuid4().hex[:8]}",
        capacity=2,
    )
    try:
        yield layer
    finally:
        await layer.flush()
        await layer.close_pools()


async def _received(layer, channel: str) -> dict:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(layer.receive(channel), 5)


async def test_members_read_first_then_delivered_reach_each_member(layer):
    local = [await layer.new_channel() for _ in range(3)]  # one Redis key, this process's
    for channel in local:
        await layer.group_add("meeting", channel)
    members = await layer.group_members("meeting")
    assert sorted(members) == sorted(local)

    await layer.deliver("meeting", members, {"type": "event", "text": "届いた"})
    for channel in local:
        assert await _received(layer, channel) == {"type": "event", "text": "届いた"}


async def test_a_channel_that_left_is_no_member(layer):
    stays, leaves = await layer.new_channel(), await layer.new_channel()
    for channel in (stays, leaves):
        await layer.group_add("meeting", channel)
    await layer.group_discard("meeting", leaves)
    assert await layer.group_members("meeting") == [stays]


async def test_group_send_still_reaches_the_group(layer):
    channel = await layer.new_channel()
    await layer.group_add("meeting", channel)
    await layer.group_send("meeting", {"type": "event", "text": "いつもの道"})
    assert await _received(layer, channel) == {"type": "event", "text": "いつもの道"}


async def test_delivery_drops_expired_messages_and_keeps_the_capacity(layer):
    channel = await layer.new_channel()
    await layer.group_add("meeting", channel)
    key = layer.prefix + layer.non_local_name(channel)
    connection = layer.connection(layer.consistent_hash(layer.non_local_name(channel)))
    # A message older than the layer's expiry, as a consumer that stopped reading leaves it.
    await connection.zadd(key, {b"stale": 0})

    for text in ("一", "二", "三"):  # capacity 2: the third is refused, not the stale one's
        await layer.deliver("meeting", [channel], {"type": "event", "text": text})

    assert await connection.zcard(key) == 2
    assert (await _received(layer, channel))["text"] == "一"
    assert (await _received(layer, channel))["text"] == "二"
