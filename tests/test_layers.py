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
    # And one added longer ago than the group expiry (a process that died without leaving).
    connection = layer.connection(layer.consistent_hash("meeting"))
    await connection.zadd(layer._group_key("meeting"), {"specific.gone!x": 0})
    assert await layer.group_members("meeting") == [stays]
    assert await connection.zcard(layer._group_key("meeting")) == 1


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


# --- this process's channels: straight into their buffers, one reader of Redis ---------------


async def _receiving(layer, channel: str) -> asyncio.Task:  # type: ignore[no-untyped-def]
    """A receiver waiting on `channel`, as a consumer's is between messages."""
    task = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)
    assert not task.done()
    return task


async def test_a_delivery_to_this_process_s_receivers_never_goes_through_redis(layer):
    here = [await layer.new_channel() for _ in range(3)]
    for channel in here:
        await layer.group_add("meeting", channel)
    waiting = [await _receiving(layer, channel) for channel in here]
    key = layer.prefix + layer.non_local_name(here[0])
    connection = layer.connection(layer.consistent_hash(layer.non_local_name(here[0])))
    sent = {"type": "event", "text": "同じプロセス", "seq": 1}

    await layer.group_send("meeting", sent)
    # Already in each buffer when the send returns: no round trip to Redis and back.
    assert all(layer.receive_buffer[channel].qsize() == 1 for channel in here)
    sent["text"] = "送った後で変えた"  # the receivers got their own copy, as from Redis

    got = await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert got == [{"type": "event", "text": "同じプロセス", "seq": 1}] * 3
    assert await connection.zcard(key) == 0  # nothing was written to the process's queue
    # What another process could not read fails here too (no silent local-only success).
    with pytest.raises(TypeError):
        await layer.group_send("meeting", {"type": "event", "at": object()})
    for task in [await _receiving(layer, channel) for channel in here]:
        task.cancel()


async def test_another_process_s_channels_still_get_it_through_redis(layer):
    from config.layers import RedisChannelLayer

    other = RedisChannelLayer(hosts=layer.hosts, prefix=layer.prefix, capacity=2)
    try:
        here, there = await layer.new_channel(), await other.new_channel()
        for channel in (here, there):
            await layer.group_add("meeting", channel)
        waiting_here = await _receiving(layer, here)
        waiting_there = await _receiving(other, there)

        await layer.group_send("meeting", {"type": "event", "text": "両方へ"})

        assert await asyncio.wait_for(waiting_here, 5) == {"type": "event", "text": "両方へ"}
        assert await asyncio.wait_for(waiting_there, 5) == {"type": "event", "text": "両方へ"}
        # And back: the other process's delivery reaches this one through Redis.
        waiting_here = await _receiving(layer, here)
        waiting_there = await _receiving(other, there)
        await other.group_send("meeting", {"type": "event", "text": "返事"})
        assert await asyncio.wait_for(waiting_here, 5) == {"type": "event", "text": "返事"}
        assert await asyncio.wait_for(waiting_there, 5) == {"type": "event", "text": "返事"}
        for task in (await _receiving(layer, here), await _receiving(other, there)):
            task.cancel()
    finally:
        await other.close_pools()


async def test_messages_sent_before_the_first_receive_wait_for_it(layer):
    channel = await layer.new_channel()
    await layer.group_add("meeting", channel)
    await layer.group_send("meeting", {"type": "event", "text": "先に届いた"})
    await layer.send(channel, {"type": "event", "text": "直接"})

    assert (await _received(layer, channel))["text"] == "先に届いた"
    assert (await _received(layer, channel))["text"] == "直接"


async def test_a_channel_whose_receiver_went_keeps_nothing_and_the_reader_stops(layer):
    stays, goes = await layer.new_channel(), await layer.new_channel()
    for channel in (stays, goes):
        await layer.group_add("meeting", channel)
    waiting = await _receiving(layer, stays)
    leaving = await _receiving(layer, goes)
    leaving.cancel()  # its consumer ended, before leaving the group
    await asyncio.sleep(0)

    await layer.group_send("meeting", {"type": "event", "text": "残った人へ"})
    assert (await asyncio.wait_for(waiting, 5))["text"] == "残った人へ"
    assert goes not in layer.receive_buffer  # nothing buffered for a channel nobody reads

    # Another process's message for it is dropped too.
    from config.layers import RedisChannelLayer

    other = RedisChannelLayer(hosts=layer.hosts, prefix=layer.prefix, capacity=2)
    try:
        waiting = await _receiving(layer, stays)
        await other.group_send("meeting", {"type": "event", "text": "外から"})
        assert (await asyncio.wait_for(waiting, 5))["text"] == "外から"
        assert goes not in layer.receive_buffer
    finally:
        await other.close_pools()

    (pump,) = layer._pumps.values()
    last = await _receiving(layer, stays)
    last.cancel()
    await asyncio.sleep(0.05)
    assert pump.done() and not layer._pumps  # no reader of Redis left behind


async def test_without_redis_the_reader_keeps_trying_and_the_receivers_keep_waiting(caplog):
    from config.layers import RedisChannelLayer

    gone = RedisChannelLayer(hosts=["redis://127.0.0.1:1"], prefix="layers-test-gone")
    channel = await gone.new_channel()
    waiting = asyncio.ensure_future(gone.receive(channel))
    await asyncio.sleep(2.5)  # two more tries, a second apart

    assert not waiting.done()  # the socket is not ended by the layer's outage
    (pump,) = gone._pumps.values()
    assert not pump.done()
    errors = [r for r in caplog.records if r.name == "config.layers" and r.levelname == "ERROR"]
    assert len(errors) == 1  # logged once, not once a second
    waiting.cancel()
    await asyncio.sleep(0.05)
    assert pump.done() and not gone._pumps
