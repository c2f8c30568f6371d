"""Every database access of the live socket, one sync function per kind of access.

The consumer (`conferences.consumers.conference`) calls these through `run`, and through
nothing else, so that what must wrap each database call (a reader context for row-level
security, say) wraps it here. None of them is called from a channel-layer handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import ProgrammingError, connection
from django.utils import translation
from django.utils.translation import gettext as _

from conferences import events, live, selectors, services
from conferences.events import message_for
from conferences.models import Conference, ConferenceEvent
from config.sockets import healthy_connections
from permissions.conferences import (
    ConferenceAccess,
    conference_access,
    refresh_access,
    refresh_accesses,
)
from permissions.rls import reader_context, refused_by_policy, set_reader


def _keep_connection(reader: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` as `reader` (row-level security on PostgreSQL: permissions/rls.py) with the
    thread's database connection kept open between calls (a new PostgreSQL connection per
    operation costs more than the operation); a connection that had errors is health-checked
    and replaced, as Django does between requests. `reader` None: `fn` sets its own readers."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        healthy_connections()
        if reader is None:
            return fn(*args, **kwargs)
        with reader_context(reader):
            return fn(*args, **kwargs)

    return wrapped


def _one_thread() -> bool:
    # SQLite has one writer at a time: writers queue in one thread instead of polling the
    # file lock (its busy handler sleeps in steps of 1–100 ms). PostgreSQL runs the sockets'
    # statements side by side, each worker thread with its own connection.
    return connection.vendor == "sqlite"


async def run(reader: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Call one of this module's functions that writes, as `reader`, from the consumer's
    event loop."""
    return await sync_to_async(_keep_connection(reader, fn), thread_sensitive=_one_thread())(*args)


async def run_read(reader: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Call one that only reads: never queued behind the writers (SQLite's WAL lets reads
    run beside a write)."""
    return await sync_to_async(_keep_connection(reader, fn), thread_sensitive=False)(*args)


# --- access ----------------------------------------------------------------------------------


def load_access(user: Any, conference_id: int) -> ConferenceAccess | None:
    """The reader's access on connecting (None: the conference does not exist for them)."""
    try:
        conference = Conference.objects.select_related("chair").get(pk=conference_id)
    except Conference.DoesNotExist:
        return None
    return conference_access(user, conference)


def reread_access(access: ConferenceAccess) -> ConferenceAccess | None:
    """The reader's access read again: memberships, invitation, acknowledgement, shares."""
    return refresh_access(access)


def refresh(
    accesses: list[ConferenceAccess], cursor: int
) -> tuple[list[ConferenceAccess | None], list[dict[str, Any]]]:
    """The periodic re-check of one conference's sockets in this process: their readers'
    access read again, and the log's events after `cursor` (the lowest of their cursors).

    One transaction, as the first of them (call through `run_read` with reader None): the
    shares, which only their agency's members may read under row-level security, are read
    per agency as one of its members (`refresh_accesses`); the log as a reader who is still a
    member."""
    if not accesses:
        return [], []
    with reader_context(accesses[0].user):
        fresh = refresh_accesses(accesses)
        member = next((a for a in fresh if a is not None), None)
        if member is None or member.conference.last_seq <= cursor:
            return fresh, []
        if member.user != accesses[0].user:
            set_reader(member.user)
        return fresh, read_log(member.conference.pk, cursor + 1, member.conference.last_seq)


# --- joining and leaving -----------------------------------------------------------------------


def acknowledge(user: Any, access: ConferenceAccess, lang: str) -> None:
    with translation.override(lang):
        services.conference_acknowledge(actor=user, access=access)


# Presence (join, leave, heartbeat, sweep): conferences/consumers/presence.py.


# --- operations ----------------------------------------------------------------------------------


def apply_op(
    access: ConferenceAccess,
    content: dict[str, Any],
    lang: str,
    agenda_cases: dict[int, int | None],
    reread: bool,
) -> tuple[ConferenceAccess | None, live.OpResult | None, list]:
    """Apply one client operation as `access.user` (call through `run` with reader None: this
    opens its own reader context). With `reread`, the reader's access (older than the consumer
    trusts) is read again first, in the same transaction; (None, None, []) when it is gone,
    and when row-level security refuses the operation's write because it is.

    The reader's transaction is the operation's (no savepoint), and the events' broadcasts are
    collected around it: `on_commit` runs when it commits, so the consumer's loop sends them
    (not this thread)."""
    if connection.in_atomic_block:
        # Inside another transaction, the events' `on_commit` would run after the outbox is
        # closed, and go out from this thread instead of the consumer's loop.
        raise RuntimeError("apply_op opens its own transaction: call it through run(None, …)")
    with translation.override(lang), events.collect() as outbox:
        op_id = live.validate_op_id(content.get("id"))
        op = content.get("op")
        if not isinstance(op, str) or op not in live.OPS:
            raise live.OpError("unknown_op", _("Unknown operation: %(op)s.") % {"op": str(op)[:40]})
        try:
            try:
                used, result = _apply_once(access, op_id, op, content, agenda_cases, reread)
            except events.Unmatched:
                # An edit assumed what this process knew of its record, and the record is
                # otherwise now: nothing was written. Again, reading the record.
                used, result = _apply_once(
                    access, op_id, op, content, agenda_cases, reread, hints=False
                )
            if used is None:
                return None, None, []
            access = used
        except ProgrammingError as exc:
            if not refused_by_policy(exc):
                raise
            # Row-level security refused a write the socket's access (read up to
            # ACCESS_MAX_AGE ago) allowed: nothing was written. If the reader was taken off
            # the meeting meanwhile, the socket says so and closes; anything else is a fault.
            with reader_context(access.user):
                gone = reread_access(access) is None
            if gone:
                return None, None, []
            raise
        except live.ROLLED_BACK as exc:
            # Rolled back whole: a retry gets the stored answer (see `live.live_apply`).
            with reader_context(access.user):
                done = live.answer_after_rollback(access, op_id, access.user, exc)
            if done is None:
                raise
            result = done
    return access, result, outbox


def _apply_once(
    access: ConferenceAccess,
    op_id: str,
    op: str,
    content: dict[str, Any],
    agenda_cases: dict[int, int | None],
    reread: bool,
    *,
    hints: bool = True,
) -> tuple[ConferenceAccess | None, live.OpResult | None]:
    """`apply_op`'s transaction: the access it used (None: read again, and gone) and the
    operation's result."""
    # The transaction's first statement carries its BEGIN and reader, and a note's or
    # decision's last one its COMMIT: one round trip for a new note or an edit of a note
    # this process knows, two for the usual other operation.
    with reader_context(access.user, deferred=True):
        if reread:
            fresh = reread_access(access)
            if fresh is None:
                return None, None
            access = fresh
        return access, live.live_apply(
            actor=access.user,
            access=access,
            client_op_id=op_id,
            op=op,
            args=content.get("args", {}),
            agenda_cases=agenda_cases,
            savepoint=False,
            commit=True,
            hints=hints,
        )


# --- catching up ---------------------------------------------------------------------------------


def catch_up(
    access: ConferenceAccess, after: int
) -> tuple[list[dict[str, Any]], int, dict[str, Any] | None, dict[str, Any] | None]:
    """(frames after `after` this reader may read, the sequence they reach, or a snapshot;
    and, when resuming without a snapshot, who is here now and who left, with versions).
    Presence is not in the log, so a resuming client learns from these who came and went
    while it was away."""
    upto = selectors.last_seq(access.conference.pk)
    if after <= 0 or after > upto:
        snap = selectors.snapshot(access)
        return [], snap["seq"], snap, None
    frames = selectors.replay_frames(access, after, upto)
    if frames is None:
        snap = selectors.snapshot(access)
        return [], snap["seq"], snap, None
    return frames, upto, None, selectors.presence(access.conference)


def read_log(conference_id: int, first: int, last: int) -> list[dict[str, Any]]:
    """The log's events `first`..`last` as group messages (the consumer filters them)."""
    rows = ConferenceEvent.objects.filter(
        conference_id=conference_id, seq__gte=first, seq__lte=last
    ).order_by("seq")
    return [message_for(e) for e in rows]
