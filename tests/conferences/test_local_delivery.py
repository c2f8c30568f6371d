"""An operation's event handed straight to the process's other sockets of the meeting
(conferences.consumers.local), on the Redis layer as in production."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conferences.consumers import local
from tests.conferences.conftest import make_live
from tests.conferences.test_consumers import first_item, joined, socket_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def live(cast):  # type: ignore[no-untyped-def]
    return make_live(cast)


async def test_idle_sockets_get_the_event_and_the_sender_its_own_in_order(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    item = await first_item(live)
    ids = [await coord.op("note.add", item=item, text=f"メモ{n}", tier=1) for n in range(5)]

    async def frames(client: Any, acks: int) -> tuple[list[int], list[int]]:
        ack_seqs: list[int] = []
        event_seqs: list[int] = []
        while len(ack_seqs) < acks or len(event_seqs) < len(ids):
            frame = await client.recv()
            if frame["type"] == "ack":
                ack_seqs.append(frame["seq"])
            elif frame["type"] == "event":
                event_seqs.append(frame["seq"])
        return ack_seqs, event_seqs

    acks, own = await frames(coord, len(ids))
    _none, others = await frames(prof, 0)
    assert acks == list(range(acks[0], acks[0] + 5))
    assert own == others == acks
    for client in (coord, prof):
        assert [f for f in await client.drain() if f["type"] == "event"] == []  # none twice
        await client.close()


async def test_a_full_connection_holds_up_no_one_and_gets_every_event_in_order(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    resident = await joined(live, cast.resident)
    # The professional's client stops reading: the server's sends to it wait, as uvicorn's
    # do while a connection's buffer is full.
    stuck = socket_of(cast.professional)
    opened = asyncio.Event()
    send = stuck.base_send

    async def full(message: dict[str, Any]) -> None:
        await opened.wait()
        await send(message)

    stuck.base_send = full
    item = await first_item(live)
    seqs = []
    for n in range(3):
        op_id = await coord.op("note.add", item=item, text=f"見守りメモ{n}", tier=1)
        # The sender's acknowledgement and the others' events do not wait for her.
        seqs.append((await coord.until("ack", id=op_id, timeout=2))["seq"])
        event = await resident.until("event", event="note.created", timeout=2)
        assert event["seq"] == seqs[-1]
    assert [f for f in await prof.drain(0.3) if f["type"] == "event"] == []
    opened.set()
    frames = [f for f in await prof.drain(0.5) if f["type"] == "event"]
    assert [f["seq"] for f in frames] == seqs
    assert [f["note"]["text"] for f in frames] == ["見守りメモ0", "見守りメモ1", "見守りメモ2"]
    for client in (coord, prof, resident):
        await client.close()


class Recorder:
    """A socket as `local` sees one: its channel, whether it is handling something, and the
    group handler, which records what it was handed."""

    def __init__(self, channel_name: str, handling: int = 0) -> None:
        self.channel_name = channel_name
        self.handling = handling
        self.handed: list[int] = []

    async def conference_event(self, message: dict[str, Any]) -> None:
        self.handed.append(message["seq"])


async def test_only_idle_sockets_with_nothing_on_its_way_are_handed_the_event():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    idle = Recorder(await layer.new_channel())
    busy = Recorder(await layer.new_channel(), handling=1)
    waiting = Recorder(await layer.new_channel())
    taken = Recorder(await layer.new_channel())
    # A receive on this loop starts the task that moves this process's messages from Redis
    # into the channels' buffers, as a consumer's does.
    receiving = asyncio.create_task(layer.receive(await layer.new_channel()))
    notice = {"type": "conference.shares"}
    await layer.send(waiting.channel_name, notice)
    await layer.send(taken.channel_name, notice)
    async with asyncio.timeout(5):
        while not (
            layer.has_pending(waiting.channel_name) and layer.has_pending(taken.channel_name)
        ):
            await asyncio.sleep(0.01)
    # Taken from its buffer by its receiver, not yet handed to a handler: a share's change
    # notice that the event must not pass.
    assert await layer.receive(taken.channel_name) == notice
    sockets = (idle, busy, waiting, taken)
    for socket in sockets:
        local.register(socket)  # type: ignore[arg-type]
    try:
        names = [s.channel_name for s in sockets]
        await local.deliver(layer, "conference-test", names, {"type": "conference.event", "seq": 7})
        assert idle.handed == [7] and idle.handling == 0
        assert busy.handed == waiting.handed == taken.handed == []
        assert (await layer.receive(busy.channel_name))["seq"] == 7
        assert await layer.receive(waiting.channel_name) == notice
        assert (await layer.receive(waiting.channel_name))["seq"] == 7
        layer.handling_started(taken.channel_name)  # its consumer handles the notice
        assert (await layer.receive(taken.channel_name))["seq"] == 7
        # Once handled, nothing is on its way: the next event is handed over.
        layer.handling_started(taken.channel_name)
        assert not layer.has_pending(taken.channel_name)
        await local.deliver(layer, "conference-test", names, {"type": "conference.event", "seq": 8})
        assert taken.handed == [8] and idle.handed == [7, 8]
    finally:
        receiving.cancel()
        for socket in sockets:
            local.unregister(socket)  # type: ignore[arg-type]
