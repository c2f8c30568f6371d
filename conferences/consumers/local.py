"""An operation's event handed straight to this process's other sockets of the meeting.

Through the channel layer, an event for a meeting's 30 sockets is put in 30 buffers, and each
socket's task then wakes, takes it, dispatches it and sends it: on the live fan-out benchmark
that is most of a broadcast's time after the commit (docs/performance.md, the live fan-out's
"Seventeenth round"). A socket of this process and event loop that is handling nothing and
has nothing waiting in its buffer is instead handed the event here, by the operation's own
task: its group handler (`conference_event`: the reader's tier checked, the frame sent) runs
at once. Any other socket gets it through the layer, as before: one that is busy (its own
operation, its catch-up after `hello`, an earlier event still being sent), one with a message
on its way (in its buffer, or taken from it and not yet handled: a `conference.shares` notice
must hold back the events committed after it), one of another process.

Nothing is delivered twice or out of order either way: a socket never runs two handlers at
once (it counts as busy from here until the handler ends), and events that reach it by both
paths are put in order by its sequence buffer, as events the layer reorders always were. A
handler whose send waits (the client's connection full) goes on as a task of its own, so a
slow participant holds up no one else.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from config.sockets import per_event_loop

log = logging.getLogger(__name__)


class Socket(Protocol):
    channel_name: str
    handling: int

    async def conference_event(self, message: dict[str, Any]) -> None: ...


_joined: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Socket]] = (
    weakref.WeakKeyDictionary()
)
# Handlers whose send is waiting for the client: kept until done (the loop holds tasks weakly).
_waiting: set[asyncio.Task[None]] = set()


def joined() -> dict[str, Socket]:
    """This event loop's joined meeting sockets, by channel name."""
    return per_event_loop(_joined, dict)


def register(socket: Socket) -> None:
    joined()[socket.channel_name] = socket


def unregister(socket: Socket) -> None:
    joined().pop(socket.channel_name, None)


async def deliver(layer: Any, group: str, names: list[str], message: dict[str, Any]) -> None:
    """Send an operation's event to the meeting's sockets `names` (read from the layer):
    the idle ones of this loop directly, the others through `layer.deliver`."""
    here = joined()
    direct: list[Socket] = []
    queued: list[str] = []
    for name in names:
        socket = here.get(name)
        if socket is not None and socket.handling == 0 and not layer.has_pending(name):
            direct.append(socket)
        else:
            queued.append(name)
    if queued:
        await layer.deliver(group, queued, message)
    if direct:
        # As the layer would give it back (what cannot cross to another process fails here
        # too), one copy for all, as the layer shares one per process.
        copy = layer.deserialize(layer.serialize(message))
        loop = asyncio.get_running_loop()
        for socket in direct:
            _hand_over(socket, copy, loop)


def _hand_over(socket: Socket, message: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    socket.handling += 1
    # Run now, up to the first wait: without one (the usual case) it is done on return.
    task = asyncio.Task(socket.conference_event(message), loop=loop, eager_start=True)
    if task.done():
        _done(socket, task)
        return
    _waiting.add(task)
    task.add_done_callback(lambda t: _done(socket, t))


def _done(socket: Socket, task: asyncio.Task[None]) -> None:
    _waiting.discard(task)
    socket.handling -= 1
    if not task.cancelled() and task.exception() is not None:
        # As a failing handler would be through the layer, but without ending the sender's
        # operation: the socket's periodic log check sends what it did not.
        log.error("passing an event to %s failed", socket.channel_name, exc_info=task.exception())
