"""Presence on the live page: who has a socket open now. See docs/live-protocol.md, "Presence".

**Ordered changes.** Every change of one person's presence at one meeting (a socket joins, a
socket leaves, a dead process's sockets are swept) is one transaction that first takes the
lock of their `PresenceVersion` row with the next version number, then changes their
`Presence` rows, then reads whether any of their sockets is left. The lock serialises the
changes of one person; the read after it sees every earlier change (PostgreSQL READ COMMITTED
takes a new snapshot per statement, after the lock was granted, i.e. after the previous holder
committed; SQLite has one writer at a time). So the frame of version *v* states exactly the
presence after change *v*, whatever order the frames arrive in, and a page applies a
person's frame only when its version is newer than the one it holds.

**Dead processes.** Each server process (event loop) holding joined sockets is a `LiveProcess`
row whose `seen_at` it refreshes every PRESENCE_HEARTBEAT_SECONDS, in database time. Presence
rows carry their process; rows of a process not seen for PRESENCE_STALE_SECONDS are not shown
(`alive_presence`), and at every heartbeat each live process sweeps them (one person at a
time, as above) and tells the meetings' pages. A process that finds its own row gone or its
last beat too old (it was stalled, and may have been swept) announces its sockets again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.functions import Now

from conferences import selectors
from conferences.consumers import db
from conferences.events import group_name
from conferences.live.checks import writer_agency
from conferences.models import LiveProcess, Presence, PresenceVersion
from conferences.selectors import alive_presence, live_processes
from config.sockets import per_event_loop
from permissions.conferences import ConferenceAccess
from permissions.people import display_name

if TYPE_CHECKING:
    from conferences.consumers.conference import ConferenceConsumer

log = logging.getLogger(__name__)

Entry = dict[str, Any]


# --- changes (sync; called through conferences.consumers.db.run) --------------------------------


def _next_version(conference_id: int, user_id: int) -> int:
    """Lock this person's version row (waiting for a change in progress to commit) and take
    the next number. One statement on PostgreSQL and SQLite (3.35+)."""
    table = PresenceVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (conference_id, user_id, version) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (conference_id, user_id) DO UPDATE SET version = {table}.version + 1 "
            "RETURNING version",
            [conference_id, user_id],
        )
        return int(cursor.fetchone()[0])


def _change(conference_id: int, user_id: int, change: Callable[[], object]) -> tuple[int, bool]:
    """One change of a person's presence: (its version, whether they are here after it)."""
    with transaction.atomic(savepoint=False):
        version = _next_version(conference_id, user_id)
        change()
        online = alive_presence().filter(conference_id=conference_id, user_id=user_id).exists()
    return version, online


def _entry(access: ConferenceAccess, *, online: bool, version: int) -> Entry:
    # The agency from the memberships the access was read with (no query), as the writer's
    # agency of an operation is.
    agency = writer_agency(access.user, access) if access.agency_id else None
    return {
        "user": access.user.pk,
        "name": display_name(access.user),
        "agency": agency.name if agency else "",
        "online": online,
        "version": version,
    }


def join(access: ConferenceAccess, channel_name: str, process: str) -> Entry:
    from conferences import services

    conference_id, user_id = access.conference.pk, access.user.pk
    version, online = _change(
        conference_id,
        user_id,
        # INSERT … ON CONFLICT DO NOTHING (a channel joins once; again after a sweep).
        lambda: Presence.objects.bulk_create(
            [
                Presence(
                    channel_name=channel_name,
                    conference_id=conference_id,
                    user_id=user_id,
                    process=process,
                )
            ],
            ignore_conflicts=True,
        ),
    )
    services.participant_joined(access=access)
    return _entry(access, online=online, version=version)


def leave(access: ConferenceAccess, channel_name: str) -> Entry:
    version, online = _change(
        access.conference.pk,
        access.user.pk,
        lambda: Presence.objects.filter(channel_name=channel_name).delete(),
    )
    return _entry(access, online=online, version=version)


def rejoin(sockets: list[ConferenceConsumer], process: str) -> list[Entry]:
    """This process's joined sockets announced again (after it was stalled past the bound,
    and may have been swept). A socket that left meanwhile is not put back: its `left` flag
    is set before its leave takes the lock, and read here under the lock."""

    def put_back(consumer: ConferenceConsumer) -> None:
        if consumer.left:
            return
        Presence.objects.bulk_create(
            [
                Presence(
                    channel_name=consumer.channel_name,
                    conference_id=consumer.conference_id,
                    user_id=consumer.user.pk,
                    process=process,
                )
            ],
            ignore_conflicts=True,
        )

    entries = []
    for consumer in sockets:
        access = consumer.access
        version, online = _change(access.conference.pk, access.user.pk, partial(put_back, consumer))
        entries.append(
            {"conference": access.conference.pk, **_entry(access, online=online, version=version)}
        )
    return entries


def beat(process: str) -> bool:
    """This process is alive (database time). True: its row was gone (swept as dead, or a
    fresh start), so its sockets' presence must be announced again."""
    if LiveProcess.objects.filter(pk=process).update(seen_at=Now()):
        return False
    LiveProcess.objects.bulk_create([LiveProcess(id=process, seen_at=Now())], ignore_conflicts=True)
    return True


def sweep() -> list[Entry]:
    """Drop the presence rows of dead processes, one person at a time (each a change with its
    version), and the dead processes' rows; the changed people's entries (each with its
    `conference`)."""
    dead = Presence.objects.exclude(process__in=live_processes().values("id"))
    pairs = sorted(set(dead.values_list("conference_id", "user_id")))
    changed = []
    for conference_id, user_id in pairs:
        # Dead is checked again under the lock: the process may have beaten meanwhile.
        mine = dead.filter(conference_id=conference_id, user_id=user_id)
        version, online = _change(conference_id, user_id, mine.delete)
        changed.append((conference_id, user_id, version, online))
    cutoff = Now() - dt.timedelta(seconds=settings.PRESENCE_STALE_SECONDS)
    LiveProcess.objects.filter(seen_at__lt=cutoff).delete()
    return _entries_for(changed)


def _entries_for(changed: Iterable[tuple[int, int, int, bool]]) -> list[Entry]:
    changed = list(changed)
    if not changed:
        return []
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in={c[1] for c in changed})}
    agencies = selectors.participant_agencies({c[0] for c in changed}, users)
    return [
        {
            "conference": conference_id,
            "user": user_id,
            "name": display_name(users[user_id]) if user_id in users else "",
            "agency": agencies.get((conference_id, user_id), ""),
            "online": online,
            "version": version,
        }
        for conference_id, user_id, version, online in changed
    ]


# --- this process: heartbeat and sweep (async, in the server's event loop) ---------------------


class Liveness:
    """This event loop's `LiveProcess`: its id, its joined sockets and its heartbeat."""

    def __init__(self) -> None:
        # Host, pid and a random part: a restarted process (same host, same pid in a
        # container) is a new process, not the dead one come back.
        self.id = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.sockets: set[ConferenceConsumer] = set()
        self.task: asyncio.Task | None = None
        self.beat_at: float | None = None
        self.starting = asyncio.Lock()

    async def arrive(self, consumer: ConferenceConsumer) -> str:
        """Before a socket joins: make sure this process beats (the first socket waits for
        the first beat, so its presence row is never one of an unknown process)."""
        async with self.starting:
            if self.task is None or self.task.done():
                await self._beat()
                self.task = asyncio.create_task(self._loop())
        self.sockets.add(consumer)
        return self.id

    def depart(self, consumer: ConferenceConsumer) -> None:
        self.sockets.discard(consumer)
        if not self.sockets and self.task is not None:
            # No sockets, no presence rows of ours: nothing to keep alive. The next
            # socket starts it again (with a beat first).
            self.task.cancel()
            self.task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
            try:
                await self._beat()
            except Exception:
                # The database may be back at the next beat; until then our presence
                # ages, and others drop it once it is older than the bound.
                log.exception("presence heartbeat of %s failed", self.id)

    async def _beat(self) -> None:
        late = (
            self.beat_at is not None
            and time.monotonic() - self.beat_at
            > (settings.PRESENCE_STALE_SECONDS + settings.PRESENCE_HEARTBEAT_SECONDS) / 2
        )
        started = time.monotonic()
        gone = await db.run(None, beat, self.id)
        self.beat_at = started
        entries: list[Entry] = []
        if (gone or late) and self.sockets:
            entries = await db.run(None, rejoin, list(self.sockets), self.id)
        entries += await db.run(None, sweep)
        await broadcast_many(entries)
        await self._recheck()

    async def _recheck(self) -> None:
        """Hand every socket of this process the presence of its meeting as the database has
        it; each passes on what its page lacks. Frames can be lost on the way: channels-redis
        drops group messages now and then when sockets come and go (django/channels#1683), and
        presence, unlike events, is not in the log to be read again."""
        sockets = [c for c in self.sockets if c.cursor is not None and not c.left]
        if not sockets:
            return
        state = await db.run_read(
            None, selectors.presence_of, sorted({c.conference_id for c in sockets})
        )
        for consumer in sockets:
            try:
                await consumer.presence_send(entries_of(state[consumer.conference_id]))
            except OSError:
                # Its client went away (uvicorn's ClientDisconnected is an OSError); its
                # disconnect handler, about to run, takes the socket out.
                log.debug("presence re-check: socket of %s closed", consumer.conference_id)
            except Exception:
                log.exception("presence re-check of a socket of %s", consumer.conference_id)


def entries_of(state: dict[str, list[Entry]]) -> list[Entry]:
    """The entries (as in frames) of a `selectors.presence` result."""
    here = [{**p, "online": True} for p in state["presence"]]
    gone = [{**p, "name": "", "agency": "", "online": False} for p in state["presence_gone"]]
    return here + gone


def hold(held: dict[int, int], state: dict[str, Any]) -> None:
    """Record in `held` the versions a snapshot or resume (`state`) gives the page."""
    for p in [*state.get("presence", []), *state.get("presence_gone", [])]:
        held[p["user"]] = max(held.get(p["user"], 0), p["version"])


_liveness: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Liveness] = (
    weakref.WeakKeyDictionary()
)


def liveness() -> Liveness:
    return per_event_loop(_liveness, Liveness)


async def broadcast(conference_id: int, entry: Entry) -> None:
    await get_channel_layer().group_send(
        group_name(conference_id), {"type": "conference.presence", "presence": entry}
    )


async def broadcast_many(entries: list[Entry]) -> None:
    for entry in entries:
        conference_id = entry.pop("conference")
        try:
            await broadcast(conference_id, entry)
        except Exception:
            # The others still go out; a page that misses one is set right by its next
            # snapshot or resume (both carry every person's presence and version).
            log.exception("presence frame for conference %s", conference_id)
