"""Presence on the live socket, on the real database: versions that order a person's frames
under join/leave bursts (two tabs, reconnect storms), and the presence a dead server process
leaves behind, dropped and told to the pages. The process-kill tests are in
test_presence_processes.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone
from uvicorn.protocols.utils import ClientDisconnected

from conferences import selectors
from conferences.consumers import presence
from conferences.models import LiveProcess, Presence
from permissions.conferences import conference_access
from tests.conferences.conftest import make_live
from tests.conferences.test_consumers import APP, Client, first_item, joined

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(cast):  # type: ignore[no-untyped-def]
    return make_live(cast)


@pytest.fixture
def quick_heartbeat(settings):  # type: ignore[no-untyped-def]
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.PRESENCE_STALE_SECONDS = 1.0


def _here_in_db(conference_id: int, user_id: int) -> bool:
    return selectors.alive_presence().filter(conference_id=conference_id, user_id=user_id).exists()


def _final(frames: list[dict[str, Any]]) -> bool:
    """What a page shows after applying these frames in this order, keeping only a newer
    version (as static/js/conference-live.js does)."""
    held, online = 0, False
    for f in frames:
        if f["version"] > held:
            held, online = f["version"], f["online"]
    return online


async def _close(tab: Client) -> None:
    # The communicator cancels a consumer that takes over its timeout (1 s) to close, which
    # on a busy machine cuts a leave between its commit and its frame.
    await tab.comm.disconnect(timeout=30)


async def _frames_about(observer: Client, user_id: int, count: int) -> list[dict[str, Any]]:
    return [await observer.until("presence", timeout=10, user=user_id) for _ in range(count)]


async def _frames_until(observer: Client, user_id: int, version: int) -> list[dict[str, Any]]:
    """The frames about one person until the one of `version` (late ones were dropped by the
    server, lost ones are re-sent by its heartbeat)."""
    frames = [await observer.until("presence", timeout=20, user=user_id)]
    while frames[-1]["version"] < version:
        frames.append(await observer.until("presence", timeout=20, user=user_id))
    return frames


async def test_presence_frames_carry_a_version_per_person(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    came = await coord.until("presence", user=cast.professional.pk)
    assert came["online"] and came["version"] == 1
    await prof.close()
    left = await coord.until("presence", user=cast.professional.pk)
    assert not left["online"] and left["version"] == 2
    # A page that opens now learns the version too: the older frames are no news to it.
    late = Client(live.pk, cast.resident)
    await late.connect()
    snap = await late.until("snapshot")
    assert {"user": cast.professional.pk, "version": 2} in snap["presence_gone"]
    assert {p["user"] for p in snap["presence"]} == {cast.coordinator.pk, cast.resident.pk}
    await late.close()
    await coord.close()


async def test_closing_one_of_two_tabs_keeps_the_person_here(live, cast):
    coord = await joined(live, cast.coordinator)
    tab1 = await joined(live, cast.professional)
    tab2 = await joined(live, cast.professional)
    await _frames_about(coord, cast.professional.pk, 2)
    await tab1.close()
    (still,) = await _frames_about(coord, cast.professional.pk, 1)
    assert still["online"] and still["version"] == 3
    await tab2.close()
    (gone,) = await _frames_about(coord, cast.professional.pk, 1)
    assert not gone["online"] and gone["version"] == 4
    await coord.close()


@pytest.mark.parametrize("stay_open", [0, 1])
async def test_join_and_leave_bursts_end_in_the_databases_state(live, cast, stay_open):
    """Tabs of one person opening and closing at once (a reconnect storm): each join and
    leave is one frame with its own version; whatever order the frames arrive in, the
    newest says what the database says."""
    coord = await joined(live, cast.coordinator)
    user = cast.professional.pk
    tabs = list(await asyncio.gather(*(joined(live, cast.professional) for _ in range(4))))
    changes = 4
    for _round in range(5):
        closing, tabs = tabs[:2], tabs[2:]
        opened = await asyncio.gather(
            *(_close(t) for t in closing), *(joined(live, cast.professional) for _ in range(2))
        )
        tabs += [t for t in opened if t is not None]
        changes += 4
    closing, tabs = tabs[stay_open:], tabs[:stay_open]
    await asyncio.gather(*(_close(t) for t in closing))
    changes += len(closing)

    frames = await _frames_until(coord, user, changes)
    versions = [f["version"] for f in frames]
    assert versions == sorted(set(versions))  # a page never gets an older one after a newer
    truth = await database_sync_to_async(_here_in_db)(live.pk, user)
    assert truth is bool(stay_open)
    assert _final(frames) is truth
    shuffled = frames[:]
    for seed in range(20):
        random.Random(seed).shuffle(shuffled)
        assert _final(shuffled) is truth
    # A page opened now agrees, and no later frame contradicts it.
    late = Client(live.pk, cast.resident)
    await late.connect()
    snap = await late.until("snapshot")
    if truth:
        assert [p["version"] for p in snap["presence"] if p["user"] == user] == [changes]
    else:
        assert {"user": user, "version": changes} in snap["presence_gone"]
    for t in [*tabs, late, coord]:
        await t.close()


class ClosedTab(Client):
    """A tab whose close reaches the server as uvicorn passes it on: from the moment the
    client's close frame arrives, a send raises ClientDisconnected, while the disconnect
    waits in the consumer's queue behind whatever it is handling."""

    def __init__(self, conference_id: int, user: Any) -> None:
        super().__init__(conference_id, user)
        self.gone = False

        async def server(scope: dict[str, Any], receive: Any, send: Any) -> None:
            async def server_send(message: dict[str, Any]) -> None:
                if self.gone:
                    raise ClientDisconnected()
                await send(message)

            await APP(scope, receive, server_send)

        self.comm.application = server  # before it starts, on connecting

    async def closed_by_client(self) -> None:
        self.gone = True


async def test_a_tab_closed_while_a_frame_is_on_its_way_leaves(live, cast):
    """The server sends a frame to a tab whose close has just arrived (uvicorn raises
    ClientDisconnected): the socket still leaves — its person is no longer here, and the
    others are told — instead of staying present until the server process stops."""
    coord = await joined(live, cast.coordinator)
    tab = ClosedTab(live.pk, cast.professional)
    ok, _ = await tab.connect()
    assert ok
    await tab.until("synced")
    await coord.until("presence", user=cast.professional.pk, online=True)
    await tab.closed_by_client()
    item = await first_item(live)
    # A frame for the closed tab: a note it may read, passed on by its consumer.
    await coord.op("note.add", item=item, text="見守りメモ：閉じたタブへ", tier=1)
    await coord.until("ack")
    await asyncio.sleep(0.3)  # its consumer handles the event (and the send fails) first
    assert not tab.comm.future.done(), "the consumer ended without its disconnect"
    await tab.comm.send_input({"type": "websocket.disconnect", "code": 1001})
    await asyncio.wait_for(tab.comm.future, 10)
    gone = await coord.until("presence", timeout=10, user=cast.professional.pk)
    assert not gone["online"]
    assert not await database_sync_to_async(_here_in_db)(live.pk, cast.professional.pk)
    await coord.close()


def _joined_elsewhere(conference: Any, user: Any, process: str) -> None:
    """A socket joined on another (live) process, whose presence frame never arrived."""
    LiveProcess.objects.create(id=process, seen_at=timezone.now() + dt.timedelta(hours=1))
    presence.join(conference_access(user, conference), f"specific.{process}!1", process)


async def test_a_lost_presence_frame_is_made_good_by_the_heartbeat(live, cast, quick_heartbeat):
    coord = await joined(live, cast.coordinator)
    await database_sync_to_async(_joined_elsewhere)(live, cast.professional, "other:1:a")
    came = await coord.until("presence", timeout=10, user=cast.professional.pk)
    assert came["online"] and came["version"] == 1
    await coord.close()


def _left_by_a_killed_process(conference: Any, user: Any, process: str) -> None:
    """What a SIGKILLed server process leaves: its socket's presence row (a real join), and
    its last heartbeat, which is never refreshed."""
    LiveProcess.objects.create(id=process, seen_at=timezone.now())
    presence.join(conference_access(user, conference), f"specific.{process}!1", process)
    LiveProcess.objects.filter(pk=process).update(seen_at=timezone.now() - dt.timedelta(hours=1))


async def test_a_dead_processs_people_are_dropped_and_pages_told(live, cast, quick_heartbeat):
    coord = await joined(live, cast.coordinator)
    await database_sync_to_async(_left_by_a_killed_process)(live, cast.professional, "dead:1:a")
    # Not shown from now on (a page opened now does not list them) …
    shown = await database_sync_to_async(selectors.presence)(live)
    assert [p["user"] for p in shown["presence"]] == [cast.coordinator.pk]
    # … and the live process sweeps them and tells the open pages.
    gone = await coord.until("presence", timeout=10, user=cast.professional.pk)
    assert not gone["online"] and gone["version"] == 2
    assert not await database_sync_to_async(Presence.objects.filter(process="dead:1:a").exists)()
    assert not await database_sync_to_async(LiveProcess.objects.filter(pk="dead:1:a").exists)()
    await coord.close()


async def test_a_person_with_a_tab_on_a_live_process_stays_here(live, cast, quick_heartbeat):
    coord = await joined(live, cast.coordinator)
    tab = await joined(live, cast.professional)
    await coord.until("presence", user=cast.professional.pk)
    await database_sync_to_async(_left_by_a_killed_process)(live, cast.professional, "dead:2:b")
    swept = await coord.until("presence", timeout=10, user=cast.professional.pk, version=3)
    assert swept["online"]
    await tab.close()
    await coord.close()


def _swept_by_another_process() -> None:
    """Another process found this one's heartbeat too old (it was stalled) and swept it."""
    with transaction.atomic():
        LiveProcess.objects.update(seen_at=timezone.now() - dt.timedelta(hours=1))
        presence.sweep()


async def test_a_process_swept_while_alive_announces_its_sockets_again(live, cast, quick_heartbeat):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    await coord.until("presence", user=cast.professional.pk, version=1)
    await database_sync_to_async(_swept_by_another_process)()
    assert not await database_sync_to_async(_here_in_db)(live.pk, cast.professional.pk)
    back = await coord.until("presence", timeout=10, user=cast.professional.pk, version=3)
    assert back["online"]
    assert await database_sync_to_async(_here_in_db)(live.pk, cast.professional.pk)
    await prof.close()
    gone = await coord.until("presence", user=cast.professional.pk, version=4)
    assert not gone["online"]
    await coord.close()
