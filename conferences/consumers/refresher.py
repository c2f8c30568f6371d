"""The periodic re-read of live readers' access, once per conference per server process.

Every live socket must notice within ACCESS_MAX_AGE seconds that its reader's access changed
(a share expired or was edited outside `permissions.services`, a role changed) and that the
log has events it never received (a message the channel layer dropped, with no later one to
reveal the gap). Doing that per socket costs four or five queries per socket per period; here
one task per conference and process re-reads every registered socket's access in five queries
and the log's end in one, and hands each socket its own result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from conferences.consumers import db

if TYPE_CHECKING:
    from conferences.consumers.conference import ConferenceConsumer

log = logging.getLogger(__name__)


class AccessRefresher:
    def __init__(self, conference_id: int) -> None:
        self.conference_id = conference_id
        self.consumers: set[ConferenceConsumer] = set()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    def now(self) -> None:
        """Re-read at once (a share of one of the meeting's cases changed)."""
        self.wake.set()

    async def _loop(self) -> None:
        from conferences.consumers import conference as consumer_module

        while self.consumers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), consumer_module.ACCESS_MAX_AGE)
            self.wake.clear()
            members = [c for c in self.consumers if c.cursor is not None]
            if not members:
                continue
            cursors = [c.cursor for c in members if c.cursor is not None]
            try:
                accesses, messages = await db.run_read(
                    None,  # db.refresh names its readers itself (per agency)
                    db.refresh,
                    [c.access for c in members],
                    min(cursors),
                )
            except Exception:
                # Try again at the next period; sockets holding deliveries keep holding.
                log.exception("re-reading the access of conference %s failed", self.conference_id)
                continue
            for consumer, access in zip(members, accesses, strict=True):
                if consumer not in self.consumers:
                    continue
                try:
                    await consumer.access_refreshed(access, messages, again=self.wake.is_set())
                except OSError:
                    # Its client went away (uvicorn's ClientDisconnected is an OSError); its
                    # disconnect handler, about to run, unregisters it.
                    log.debug("live socket of conference %s closed", self.conference_id)
                except Exception:
                    # One socket's failure (its client gone, say) is not the others'.
                    log.exception("live socket of conference %s: refresh", self.conference_id)


# One refresher per (event loop, conference): tests run each in its own loop.
_refreshers: dict[tuple[int, int], AccessRefresher] = {}


def _key(conference_id: int) -> tuple[int, int]:
    return id(asyncio.get_running_loop()), conference_id


def register(consumer: ConferenceConsumer) -> AccessRefresher:
    key = _key(consumer.conference_id)
    refresher = _refreshers.get(key)
    if refresher is None or refresher.task is None or refresher.task.done():
        refresher = _refreshers[key] = AccessRefresher(consumer.conference_id)
    refresher.consumers.add(consumer)
    if refresher.task is None:
        refresher.task = asyncio.create_task(refresher._loop())
        refresher.task.add_done_callback(lambda _t: _forget(key, refresher))
    return refresher


def unregister(consumer: ConferenceConsumer) -> None:
    refresher = _refreshers.get(_key(consumer.conference_id))
    if refresher is not None:
        refresher.consumers.discard(consumer)
        if not refresher.consumers and refresher.task is not None:
            refresher.task.cancel()


def _forget(key: tuple[int, int], refresher: AccessRefresher) -> None:
    if _refreshers.get(key) is refresher:
        del _refreshers[key]


def wake(conference_id: int) -> None:
    refresher = _refreshers.get(_key(conference_id))
    if refresher is not None:
        refresher.now()
